import { describe, expect, it } from 'vitest';
import { fmnistArchitecture, validateArchitecture, weightSpecs } from '../../../src/models/architecture.js';
import { blockSpecs, wrnArchitecture } from '../../../src/models/cnnfWrn/architecture.js';

describe('cnnf-wrn architecture', () => {
  it('follows WideResNet(depth, classes, widen): n = (depth-4)/6 blocks per group, widths 16w/32w/64w, stride 2 entering groups 2 and 3', () => {
    const blocks = blockSpecs(wrnArchitecture(40, 2, 5, 2, 0.1));
    expect(blocks).toHaveLength(18);
    expect(blocks.map((b) => `${b.prefix}:${b.inChannels}->${b.outChannels}/${b.stride}`).filter((_, i) => i % 6 === 0 || i % 6 === 1)).toEqual([
      'block1.0:16->32/1', 'block1.1:32->32/1', 'block2.0:32->64/2', 'block2.1:64->64/1', 'block3.0:64->128/2', 'block3.1:128->128/1',
    ]);
    // WRN-16-8 (n = 2): the first group widens 16 -> 128.
    expect(blockSpecs(wrnArchitecture(16, 8, 0, 0, 0))[0]).toMatchObject({ inChannels: 16, outChannels: 128, shortcut: true });
  });

  it('validates through the family dispatch and keeps the Fashion-MNIST family unchanged', () => {
    const a = wrnArchitecture(40, 2, 5, 2, 0.1);
    expect(validateArchitecture(JSON.parse(JSON.stringify(a)), 'm.json')).toEqual(a);
    expect(validateArchitecture(fmnistArchitecture(2, 1, 0.1), 'f.json')).toEqual(fmnistArchitecture(2, 1, 0.1));
    expect(weightSpecs(a).at(-1)).toEqual({ name: 'fc.bias', shape: [10] });
  });

  it('rejects an impossible model.json with one line naming the field and the allowed values', () => {
    const bad = (patch: Record<string, unknown>) => () => validateArchitecture({ ...wrnArchitecture(40, 2, 5, 2, 0.1), ...patch }, 'm.json');
    expect(bad({ depth: 41 })).toThrow(/^m\.json: architecture\.depth: 41 is not a Wide-ResNet depth \(allowed: 6n \+ 4/);
    expect(bad({ depth: 1e9 })).toThrow(/architecture\.depth/);
    expect(bad({ widen: 0 })).toThrow(/architecture\.widen: 0 is not a widen factor/);
    expect(bad({ ind: 7 })).toThrow(/architecture\.ind: 7 is not a block of the first group \(allowed: 0\.\.6/);
    expect(bad({ inputShape: [28, 28, 1] })).toThrow(/architecture\.inputShape: \[28,28,1\] is not supported.*\(allowed: \[32, 32, 3\]\)/);
    expect(bad({ cycles: 1e9 })).toThrow(/architecture\.cycles/);
    expect(bad({ resParam: 2 })).toThrow(/architecture\.resParam/);
    expect(bad({ family: 'resnet' })).toThrow(/architecture\.family: unknown family "resnet" \(allowed: "cnnf", "cnnf-wrn"\)/);
  });
});
