/**
 * A real third-party TF.js graph-model for the README's examples: NSFWJS's MobileNetV2 "mid" classifier
 * (npm package nsfwjs, MIT licence, Infinite Red, https://github.com/infinitered/nsfwjs), a
 * tfjs-converter graph-model with uint8-quantised weights, input [N, 224, 224, 3] float32 pixels in [0,1]
 * (the package's own `infer` divides 0..255 pixels by 255), 5 classes, ending in a Softmax op.
 *
 * The package ships its models as JavaScript modules rather than model.json + .bin files:
 * `dist/models/<model>/model.min.js` is a UMD bundle whose export is the model.json object, and each
 * `group1-shardNofM.min.js` a UMD bundle whose export is that shard's bytes in base64. This module
 * evaluates those bundles in an empty `node:vm` context (no `require`, `process` or file system: they only
 * build a value) and writes a standard graph-model folder: model.json (weightsManifest paths naming the
 * .bin shards beside it) and the shards, plus NOTICE and the package's LICENSE.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

/** The version the examples and tests were written and checked against. */
export const NSFWJS_VERSION = '4.4.0';
/** The graph-model inside the package used as the example. */
export const NSFWJS_MODEL = 'mobilenet_v2_mid';
/** Class names in output order (the package's dist/cjs/nsfw_classes.js, NSFW_CLASSES 0..4). */
export const NSFWJS_CLASSES: readonly string[] = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

const modelDir = (root: string) => join(root, 'dist', 'models', NSFWJS_MODEL);

/**
 * The folder of the installed nsfwjs package (the one holding its package.json), or of an unpacked copy
 * of its tarball named by the environment variable BENCH_NSFWJS_DIR; null when neither holds the model.
 */
export function nsfwjsPackageRoot(): string | null {
  const candidates: string[] = [];
  if (process.env.BENCH_NSFWJS_DIR) candidates.push(process.env.BENCH_NSFWJS_DIR);
  try {
    // The package's exports map hides package.json; its CommonJS entry is dist/cjs/index.js.
    candidates.push(join(dirname(createRequire(import.meta.url).resolve('nsfwjs')), '..', '..'));
  } catch {
    // not installed
  }
  return candidates.find((d) => existsSync(join(modelDir(d), 'model.min.js'))) ?? null;
}

/** The value a UMD bundle exports, computed in an empty context (CommonJS branch: module.exports). */
export function umdExport(file: string): unknown {
  const module = { exports: {} as unknown };
  const sandbox = vm.createContext({ module, exports: module.exports });
  vm.runInContext(readFileSync(file, 'utf8'), sandbox, { filename: file, timeout: 60_000 });
  return module.exports;
}

interface ManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[];
}

export interface ExtractedModel {
  /** Path of the model.json written. */
  modelJson: string;
  version: string;
  license: string;
  /** Bytes of every shard, in manifest order. */
  shardBytes: number[];
  /** sha256 of the shards concatenated in manifest order (what run.json records as weightsSha256). */
  weightsSha256: string;
}

/**
 * Writes `outDir/model.json`, `outDir/group1-shardNofM.bin`, `outDir/LICENSE` and `outDir/NOTICE` from the
 * nsfwjs package at `root`. Throws (plain Error, naming the file) when the package's files do not have
 * the expected shape: model.json not an object with a graph-model topology, a shard not a base64 string.
 */
export function extractNsfwjsModel(root: string, outDir: string): ExtractedModel {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; license: string };
  const dir = modelDir(root);
  const json = JSON.parse(JSON.stringify(umdExport(join(dir, 'model.min.js')))) as Record<string, unknown>;
  const manifest = json.weightsManifest as ManifestGroup[] | undefined;
  if (json.format !== 'graph-model' || !Array.isArray(manifest) || typeof json.modelTopology !== 'object')
    throw new Error(`${join(dir, 'model.min.js')}: does not export a graph-model model.json (format ${JSON.stringify(json.format)})`);
  mkdirSync(outDir, { recursive: true });
  const shardBytes: number[] = [];
  const hash = createHash('sha256');
  const groups = manifest.map((group) => ({
    ...group,
    paths: group.paths.map((p) => {
      const file = join(dir, `${p}.min.js`);
      const base64 = umdExport(file);
      if (typeof base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new Error(`${file}: does not export a base64 string`);
      const bytes = Buffer.from(base64, 'base64');
      const name = `${p}.bin`;
      writeFileSync(join(outDir, name), bytes);
      shardBytes.push(bytes.byteLength);
      hash.update(bytes);
      return name;
    }),
  }));
  const modelJson = join(outDir, 'model.json');
  writeFileSync(modelJson, JSON.stringify({ ...json, weightsManifest: groups }));
  writeFileSync(join(outDir, 'LICENSE'), readFileSync(join(root, 'LICENSE')));
  writeFileSync(
    join(outDir, 'NOTICE'),
    [
      `NSFWJS MobileNetV2 "mid" graph-model, extracted by scripts/examples.ts from the npm package`,
      `${pkg.name}@${pkg.version} (${pkg.license} licence, (c) Infinite Red, Inc.; LICENSE beside this file;`,
      `https://github.com/infinitered/nsfwjs), files dist/models/${NSFWJS_MODEL}/model.min.js and`,
      `${manifest.flatMap((g) => g.paths).map((p) => `${p}.min.js`).join(', ')}: JavaScript modules holding`,
      `model.json and each weight shard in base64, decoded here unchanged into model.json and .bin shards.`,
      `Input [N, 224, 224, 3] pixels in [0,1]; outputs softmax probabilities of ${NSFWJS_CLASSES.length} classes: ${NSFWJS_CLASSES.join(', ')}.`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(outDir, 'classes.txt'), `${NSFWJS_CLASSES.join('\n')}\n`);
  return { modelJson, version: pkg.version, license: pkg.license, shardBytes, weightsSha256: hash.digest('hex') };
}
