import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest ancestor of this module holding our package.json. Walking up (rather
 * than a fixed ../..) makes it work from src/engine/ under vitest and from dist/src/engine/ after build.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'bench') return dir;
      } catch {
        // Not our manifest; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package root (package.json named "bench") not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
