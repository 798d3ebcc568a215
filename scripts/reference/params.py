"""Parameters the reference implementations derive by floating-point arithmetic, printed as JSON.

Run with Debian's python and numpy (apt-get install -y python3-numpy):
    /usr/bin/python3 scripts/reference/params.py          (everything but the motion-blur offsets)
    /usr/bin/python3 scripts/reference/params.py motion   (ImageMagick motion-blur tap offsets)
The expressions are those of the references, evaluated the same way:
- zoom factors: hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py zoom_blur,
  np.arange(1, end, 0.01); clipped_zoom's crop int(np.ceil(h / z)) and scipy.ndimage.zoom's output
  size round(crop * z) (np.float64.__round__) for h = 28 and for CIFAR-10-C's own h = 32;
- sizes CIFAR-10-C derives from its image side 32: pixelate's int(32 * c), elastic_transform's
  IMSIZE * c and anchors;
- APGD checkpoints: fra31/auto-attack autoattack/autopgd_base.py (n_iter_2, n_iter_min, size_decr and
  the loop "counter3 == k ... k = max(k - size_decr, n_iter_min)");
- Square: fra31/auto-attack autoattack/square.py p_selection (resc_schedule True and False) and the side
  max(int(round(math.sqrt(p * n_features / c))), 1), min(s, min(h, w));
- motion-blur tap offsets: ImageMagick magick/effect.c MotionBlurImage (point = width (sin a, cos a),
  offset = ceil(i * point / hypot(point) - 0.5)), which CIFAR-10-C's motion_blur and snow call via Wand.
Floats are printed with repr (shortest round-trip), so JavaScript parses them to the same bits.
"""
import json
import math

import numpy as np

H = 28
out = {}

# --- zoom_blur ---------------------------------------------------------------------------------------
zooms = {}
for severity, end in enumerate([1.06, 1.11, 1.16, 1.21, 1.26], start=1):
    c = np.arange(1, end, 0.01)
    zooms[severity] = [repr(float(z)) for z in c]
out['zoom_factors'] = zooms
def zoom_sizes(h):
    sizes = {}
    for z in np.arange(1, 1.26, 0.01):
        ch = int(np.ceil(h / z))
        sizes[repr(float(z))] = [ch, int(round(ch * z))]
    return sizes


out['zoom_sizes'] = zoom_sizes(H)
# CIFAR-10-C's own image side: the sizes its clipped_zoom computes for h = 32.
out['zoom_sizes_32'] = zoom_sizes(32)

# --- sizes CIFAR-10-C derives from IMSIZE = 32 -----------------------------------------------------------
# pixelate: x.resize((int(32 * c), int(32 * c)), BOX) per severity.
out['pixelate_sizes_32'] = [int(32 * c) for c in [0.95, 0.9, 0.85, 0.75, 0.65]]
# elastic_transform: c = (IMSIZE*a, IMSIZE*b, IMSIZE*d) per severity, IMSIZE = 32, as written there
# (alpha, sigma, affine); the affine anchors sit at center_square = np.float32(shape)//2 +- min(shape)//3.
IMSIZE = 32
out['elastic_32'] = [[repr(float(v)) for v in c] for c in [
    (IMSIZE * 0, IMSIZE * 0, IMSIZE * 0.08),
    (IMSIZE * 0.05, IMSIZE * 0.2, IMSIZE * 0.07),
    (IMSIZE * 0.08, IMSIZE * 0.06, IMSIZE * 0.06),
    (IMSIZE * 0.1, IMSIZE * 0.04, IMSIZE * 0.05),
    (IMSIZE * 0.1, IMSIZE * 0.03, IMSIZE * 0.03)]]
out['elastic_anchors_32'] = [float(v) for v in np.float32([32, 32]) // 2] + [min(32, 32) // 3]


# --- APGD checkpoints ------------------------------------------------------------------------------
def apgd_checks(n_iter):
    n_iter_2 = max(int(0.22 * n_iter), 1)
    n_iter_min = max(int(0.06 * n_iter), 1)
    size_decr = max(int(0.03 * n_iter), 1)
    k = n_iter_2 + 0
    counter3 = 0
    checks = []
    for i in range(n_iter):
        counter3 += 1
        if counter3 == k:
            checks.append(i + 1)
            k = max(k - size_decr, n_iter_min)
            counter3 = 0
    return checks


out['apgd_checkpoints'] = {n: apgd_checks(n) for n in [1, 2, 5, 10, 20, 25, 40, 50, 73, 100, 150, 1000]}


# --- Square ------------------------------------------------------------------------------------------
class P:
    """square.py's p_selection (copied condition by condition); rescale_schedule is its resc_schedule."""

    def __init__(self, p_init, n_queries, rescale_schedule=True):
        self.p_init, self.n_queries, self.rescale_schedule = p_init, n_queries, rescale_schedule

    def p_selection(self, it):
        if self.rescale_schedule:
            it = int(it / self.n_queries * 10000)
        if 10 < it <= 50:
            p = self.p_init / 2
        elif 50 < it <= 200:
            p = self.p_init / 4
        elif 200 < it <= 500:
            p = self.p_init / 8
        elif 500 < it <= 1000:
            p = self.p_init / 16
        elif 1000 < it <= 2000:
            p = self.p_init / 32
        elif 2000 < it <= 4000:
            p = self.p_init / 64
        elif 4000 < it <= 6000:
            p = self.p_init / 128
        elif 6000 < it <= 8000:
            p = self.p_init / 256
        elif 8000 < it:
            p = self.p_init / 512
        else:
            p = self.p_init
        return p


def side(p, c, h, w):
    n_features = c * h * w
    s = max(int(round(math.sqrt(p * n_features / c))), 1)
    return min(s, min(h, w))


def schedule_rows(n_queries, p_init, rescale_schedule=True):
    sel = P(p_init, n_queries, rescale_schedule)
    # Every iteration at which p changes, plus the ends: [iteration, repr(p), side for 1x28x28, side for 3x28x28].
    rows = []
    last = None
    for it in range(n_queries):
        p = sel.p_selection(it)
        if p != last or it == n_queries - 1:
            rows.append([it, repr(p), side(p, 1, H, H), side(p, 3, H, H)])
            if it > 0 and p != last:
                rows.append([it - 1, repr(last), side(last, 1, H, H), side(last, 3, H, H)])
            last = p
    return sorted(rows)


out['square_schedule'] = {f'{n}/{p}': schedule_rows(n, p) for n, p in [(99, 0.8), (999, 0.8), (1000, 0.05), (5000, 0.8), (333, 0.3)]}
# resc_schedule=False, as AutoAttack's standard ensemble constructs SquareAttack (autoattack.py: n_queries=5000,
# p_init=.8, resc_schedule=False): the iteration is not rescaled, so p stops at p_init / 128 after 4000.
out['square_schedule_fixed'] = {f'{n}/{p}': schedule_rows(n, p, False) for n, p in [(5000, 0.8), (200, 0.8), (10000, 0.05)]}
# Sides at fractions where sqrt(p * n_features / c) is a tie k + 0.5 (Python rounds to even).
out['square_side_ties'] = [[repr(p), c, side(p, c, H, H)] for p in [6.25 / 784, 20.25 / 784, 12.25 / 784, 42.25 / 784] for c in [1, 3]]



# --- ImageMagick MotionBlurImage tap offsets (magick/effect.c, MotionBlurImage) ------------------------
def exact_hypot(x, y):
    """sqrt(x*x + y*y) correctly rounded (exact rationals, 60-digit square root). C's hypot is meant;
    libms differ in its last bit (glibc 2.36 is an ulp off in ~0.4% of pairs), so the exact value is used."""
    from decimal import Decimal, getcontext
    from fractions import Fraction
    getcontext().prec = 60
    s = Fraction(x) ** 2 + Fraction(y) ** 2
    return float((Decimal(s.numerator) / Decimal(s.denominator)).sqrt())


def motion_offsets(width, degrees):
    rad = math.pi * degrees / 180.0  # DegreesToRadians: MagickPI*degrees/180.0
    px = width * math.sin(rad)
    py = width * math.cos(rad)
    h = exact_hypot(px, py)
    return [[math.ceil((i * py) / h - 0.5), math.ceil((i * px) / h - 0.5)] for i in range(width)]


if __name__ == '__main__':
    import sys
    if len(sys.argv) > 1 and sys.argv[1] == 'motion':
        print(json.dumps({f'{w}/{d}': motion_offsets(w, d) for w in [17, 21] for d in [-150, -30, 45, 60, -90, -135]}))
    else:
        print(json.dumps(out, indent=1))
