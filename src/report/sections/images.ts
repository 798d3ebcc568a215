/**
 * Images: the run's images/*.png (clean vs adversarial panels, corruption previews, others) as data: URIs,
 * grouped by their sidecar's `group` or, without one, by their file name; only when the run has images.
 */
import { escapeHtml } from '../format.js';
import type { ReportImage, ReportSection } from './types.js';

/** Small images (28-pixel digits) are shown magnified, up to about 720 pixels wide, with crisp pixels. */
function imageSize(i: ReportImage): string {
  if (!(i.width > 0 && i.height > 0)) return '';
  const scale = Math.max(1, Math.min(4, Math.floor(720 / i.width)));
  return ` width="${i.width * scale}" height="${i.height * scale}"`;
}

/** The labels of a panel's grid: a table (row headers, column headers, one label per tile), or the headers alone. */
function gridLabels(grid: NonNullable<ReportImage['grid']>): string {
  const { columns, rows, tiles } = grid;
  if (!tiles)
    return `<p class="grid-axes">Rows: ${rows.map(escapeHtml).join(', ')}.<br>Columns: ${columns.map(escapeHtml).join(', ')}.</p>`;
  const head = `<tr><th></th>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r, i) =>
        `<tr><th>${escapeHtml(r)}</th>${(tiles[i] ?? [])
          .map((t) => `<td${t.marked ? ' class="marked"' : ''}>${escapeHtml(t.text)}</td>`)
          .join('')}</tr>`,
    )
    .join('');
  return `<div class="table-wrap"><table class="tile-labels"><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

function imageFigure(i: ReportImage): string {
  const caption = [
    i.title ? `<b>${escapeHtml(i.title)}</b>` : '',
    i.caption ? escapeHtml(i.caption) : '',
    `<span class="muted">(images/${escapeHtml(i.name)})</span>`,
  ]
    .filter(Boolean)
    .join(' ');
  return (
    `<figure><img src="${escapeHtml(i.dataUri)}" alt="${escapeHtml(i.title ?? i.name)}"${imageSize(i)}>` +
    `<figcaption><p class="caption">${caption}</p>${i.grid ? gridLabels(i.grid) : ''}</figcaption></figure>`
  );
}

function imagePanels(images: ReportImage[]): string {
  // A sidecar's group decides; images without one (e.g. added by hand or by `bench preview`) go by name.
  const groups: [string, string, (i: ReportImage) => boolean][] = [
    ['adversarial', 'Clean vs adversarial examples', (i) => (i.group ? i.group === 'adversarial' : /adv|attack|eps|pgd|fgsm/i.test(i.name))],
    ['corruption', 'Corruption previews', (i) => (i.group ? i.group === 'corruption' : /corrupt|severity|preview/i.test(i.name))],
    ['other', 'Other images', () => true],
  ];
  const used = new Set<string>();
  const out: string[] = [];
  for (const [id, title, test] of groups) {
    const mine = images.filter((i) => !used.has(i.name) && test(i));
    mine.forEach((i) => used.add(i.name));
    if (mine.length === 0) continue;
    out.push(`<h3 id="images-${id}">${escapeHtml(title)}</h3><div class="images">` + mine.map(imageFigure).join('') + '</div>');
  }
  return out.join('\n');
}

export const imagesSection: ReportSection = {
  id: 'images',
  title: 'Images',
  applies: ({ images }) => images.length > 0,
  render: ({ images }) => `<section id="images"><h2>Images</h2>${imagePanels(images)}</section>`,
};
