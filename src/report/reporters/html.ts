/**
 * `html`: the self-contained report page (default <run-dir>/report.html) with the run's images/*.png
 * and their sidecars, the vega libraries inlined from node_modules.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { renderHtml, type ReportImage, type ReportScripts } from '../html.js';
import { derived } from './derived.js';
import type { Reporter } from './types.js';
import { createDirectory } from '../../rundir/createDir.js';

const require = createRequire(import.meta.url);

/** The minified browser builds, found next to each package's entry point in node_modules. */
async function readScripts(): Promise<ReportScripts> {
  const build = (pkg: string, file: string) => readFile(join(dirname(require.resolve(pkg)), file), 'utf8');
  const [vega, vegaLite, vegaEmbed] = await Promise.all([
    build('vega', 'vega.min.js'),
    build('vega-lite', 'vega-lite.min.js'),
    build('vega-embed', 'vega-embed.min.js'),
  ]);
  return { vega, vegaLite, vegaEmbed };
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * The report's view of a sidecar images/<name>.json (written by the runner, src/suite/images.ts): title,
 * caption, group and grid labels when they have the right types; anything else in it, or a sidecar that
 * does not parse, is ignored (the image is still shown, captioned by its file name).
 */
export function sidecarFields(value: unknown): Pick<ReportImage, 'group' | 'title' | 'caption' | 'grid'> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const v = value as Record<string, unknown>;
  const out: Pick<ReportImage, 'group' | 'title' | 'caption' | 'grid'> = {};
  if (v.group === 'adversarial' || v.group === 'corruption') out.group = v.group;
  if (typeof v.title === 'string') out.title = v.title;
  if (typeof v.caption === 'string') out.caption = v.caption;
  if (isStringList(v.columns) && isStringList(v.rows)) {
    out.grid = { columns: v.columns, rows: v.rows };
    const tiles = v.tiles;
    if (
      Array.isArray(tiles) &&
      tiles.length === v.rows.length &&
      tiles.every(
        (row) =>
          Array.isArray(row) &&
          row.every((t) => typeof t === 'object' && t !== null && typeof (t as { text?: unknown }).text === 'string'),
      )
    )
      out.grid.tiles = (tiles as { text: string; marked?: unknown }[][]).map((row) => row.map((t) => ({ text: t.text, ...(t.marked === true ? { marked: true } : {}) })));
  }
  return out;
}

/**
 * <run-dir>/images/*.png as data: URIs (the runner or `bench preview` may add them), each with the
 * fields of its sidecar <name>.json when there is one; none when the folder is absent.
 */
export async function readImages(runDir: string): Promise<ReportImage[]> {
  const dir = join(runDir, 'images');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.png') && !n.startsWith('.')).sort();
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(dir, name));
      // PNG IHDR: width and height are the big-endian words at bytes 16 and 20.
      const ok = bytes.length >= 24 && bytes.toString('latin1', 12, 16) === 'IHDR';
      let sidecar: unknown = null;
      try {
        sidecar = JSON.parse(await readFile(join(dir, `${name.slice(0, -4)}.json`), 'utf8'));
      } catch {
        // No sidecar, or not JSON: the image is shown with its file name only.
      }
      return {
        name,
        dataUri: `data:image/png;base64,${bytes.toString('base64')}`,
        width: ok ? bytes.readUInt32BE(16) : 0,
        height: ok ? bytes.readUInt32BE(20) : 0,
        ...sidecarFields(sidecar),
      };
    }),
  );
}

export const htmlReporter: Reporter = {
  name: 'html',
  describe: 'the self-contained HTML report (<run-dir>/report.html, or --out for `bench report`)',
  async write(run, options) {
    const { tables, charts } = derived(run, options.baseline);
    const html = renderHtml({ run, tables, charts, images: await readImages(run.dir), scripts: await readScripts(), baseline: options.baseline });
    const path = resolve(options.htmlFile ?? join(run.dir, 'report.html'));
    await createDirectory(dirname(path), 'the report folder');
    await writeFile(path, html);
    return [path];
  },
};
