"""Runs the original AutoAttack (fra31/auto-attack) on a bench checkpoint and writes per-sample outcomes.

    /usr/bin/python3 scripts/reference/autoattack_run.py --checkpoint checkpoints/cnn-fmnist --n 1000 \
        --eps 0.03,0.1 --attacks apgd-ce,square --square-queries 200 --out reports/aa/cnn.json

Needs Debian's python3-torch, python3-numpy, python3-threadpoolctl and libopenblas0-pthread, a checkout of fra31/auto-attack (AUTOATTACK_SRC, default
/tmp/t16-aa) and of yjhuangcd/CNNF (CNNF_SRC, default /tmp/t16-cnnf), both made by
scripts/reference/checkout.sh; the model is scripts/reference/bench_model.py.
Images: the first --n of the vendored Fashion-MNIST test set (data/fashion-mnist), NCHW in [0,1].

Attack names (bench's in brackets): apgd-ce [apgd], apgd-dlr [apgd-dlr], apgd-t [apgd-t], fab-t [fab-t],
square [square], and `standard` (AutoAttack's standard ensemble as a cascade: apgd-ce, apgd-t, fab-t,
square, each on the samples the previous ones left correct). `cascade` is the same ensemble run stage by
stage and batch by batch (each batch of --batch still-robust samples through run_standard_evaluation with
that one attack, which is what `standard` does inside), written to --out after every batch, so that a long
run (CNN-F) interrupted at any point continues with --resume where it stopped. Every attack runs through AutoAttack's own
run_standard_evaluation with the settings of its standard version (set_version('standard')); a single
attack is that evaluation with attacks_to_run = [name]. --square-queries overrides Square's n_queries
(5000 in the standard version) and --square-rescale sets its resc_schedule (False in AutoAttack's
standard version, True in the SquareAttack class's default).

Output JSON: {config, torch (version), threadpools (the thread pools pinned to --threads:
reference_env.limit_threads), labels, cleanLogits (first --logits-n rows), clean: [bool], runs: [{eps, attack,
seconds (wall), cpuSeconds (this process's CPU time; on a shared machine the fairer of the two), machines (single
attacks and `standard`: the processor the run ran on, reference_env.cpu_signature()), stages: [{attack, seconds, robust: [bool]; cascade stages also cpuSeconds, batchesDone, done, and machines: the
reference_env.cpu_signature() of every machine a batch of the stage ran on}], robust: [bool]}]}. robust[i] is true when sample i
is classified correctly after the attack (false for clean errors), as AutoAttack's robust_flags.
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.environ.get('AUTOATTACK_SRC', '/tmp/t16-aa'))

from bench_model import BenchModel, load_fashion_mnist_test  # noqa: E402
import reference_env  # noqa: E402
from autoattack import AutoAttack  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


def stage_name(adversary, obj):
    if obj is adversary.apgd:
        return 'apgd-ce' if adversary.apgd.loss == 'ce' else 'apgd-dlr'
    if obj is adversary.apgd_targeted:
        return 'apgd-t'
    if obj is adversary.fab:
        return 'fab-t' if adversary.fab.targeted else 'fab'
    return 'square'


def run_one(model, x, y, clean, eps, attack, args):
    adversary = AutoAttack(model, norm='Linf', eps=eps, version='standard', seed=args.seed, device='cpu',
                           verbose=args.verbose)
    adversary.square.n_queries = args.square_queries
    adversary.square.rescale_schedule = args.square_rescale
    if attack != 'standard':
        adversary.attacks_to_run = [attack]
        if attack == 'apgd-dlr':
            adversary.apgd.loss = 'dlr'
    # Record each stage's outputs: AutoAttack attacks the still-robust samples in index order, in batches,
    # so the concatenated outputs of one stage line up with the robust indices before it.
    calls = []
    for obj in [adversary.apgd, adversary.apgd_targeted, adversary.fab, adversary.square]:
        def wrapped(xb, yb, _obj=obj, _orig=obj.perturb):
            t0, c0 = time.time(), time.process_time()
            out = _orig(xb, yb)
            calls.append((stage_name(adversary, _obj), out.detach().clone(), time.time() - t0, time.process_time() - c0))
            return out
        obj.perturb = wrapped
    noops = count_square_noops(adversary.square) if args.count_noops else None
    t0, c0 = time.time(), time.process_time()
    adversary.run_standard_evaluation(x, y, bs=args.batch)
    seconds, cpu = time.time() - t0, time.process_time() - c0
    robust = clean.clone()
    stages = []
    order = []
    for name, *_ in calls:
        if name not in order:
            order.append(name)
    for name in order:
        outs = [c for c in calls if c[0] == name]
        idx = robust.nonzero().squeeze(1)
        adv = torch.cat([c[1] for c in outs])
        assert adv.shape[0] == idx.shape[0], f'{name}: {adv.shape[0]} outputs for {idx.shape[0]} robust samples'
        with torch.no_grad():
            pred = torch.cat([model(adv[i:i + 500]).argmax(1) for i in range(0, adv.shape[0], 500)])
        robust[idx] = pred == y[idx]
        stages.append({'attack': name, 'seconds': sum(c[2] for c in outs), 'cpuSeconds': sum(c[3] for c in outs),
                       'robust': robust.tolist()})
    run = {'eps': eps, 'attack': attack, 'seconds': seconds, 'cpuSeconds': cpu, 'stages': stages, 'robust': robust.tolist()}
    if noops is not None:
        run['squareProposals'], run['squareNoOps'] = noops['proposals'], noops['noops']
    return run


def refuse(message):
    """Ends the run on input it cannot use: one line on stderr, exit code 2 (the --out file is not touched)."""
    print(message, file=sys.stderr)
    sys.exit(2)


CASCADE = ['apgd-ce', 'apgd-t', 'fab-t', 'square']


def run_cascade(model, x, y, clean, eps, args, result, save):
    """AutoAttack's standard ensemble, resumable: stage by stage over the samples the earlier stages left
    correct, in batches of args.batch in index order (as run_standard_evaluation batches them). Each batch
    is its own run_standard_evaluation call with that stage alone; AutoAttack's attacks reseed at every
    perturb call, so this is the evaluation `standard` runs, one batch at a time. Progress (per-sample flags,
    batches done, wall and CPU seconds) lives in the run record and is saved after every batch."""
    run = next((r for r in result['runs'] if r['eps'] == eps and r['attack'] == 'cascade'), None)
    if run is None:
        run = {'eps': eps, 'attack': 'cascade', 'batch': args.batch, 'seconds': 0.0, 'cpuSeconds': 0.0, 'stages': []}
        result['runs'].append(run)
    elif run.get('batch') != args.batch:
        refuse(f'{args.out}: the run at eps {eps} used --batch {run.get("batch")}; resume it with the same --batch')
    robust = clean.clone()
    machine = reference_env.cpu_signature()
    for name in CASCADE:
        stage = next((s for s in run['stages'] if s['attack'] == name), None)
        if stage is None:
            stage = {'attack': name, 'seconds': 0.0, 'cpuSeconds': 0.0, 'alive': robust.tolist(),
                     'robust': robust.tolist(), 'batchesDone': 0, 'done': False}
            run['stages'].append(stage)
        idx = torch.tensor(stage['alive']).nonzero().squeeze(1)
        flags = torch.tensor(stage['robust'])
        n_batches = (idx.shape[0] + args.batch - 1) // args.batch
        for b in range(stage['batchesDone'], n_batches):
            rows = idx[b * args.batch:(b + 1) * args.batch]
            adversary = AutoAttack(model, norm='Linf', eps=eps, version='standard', seed=args.seed, device='cpu',
                                   verbose=args.verbose)
            adversary.square.n_queries = args.square_queries
            adversary.square.rescale_schedule = args.square_rescale
            adversary.attacks_to_run = [name]
            t0, c0 = time.time(), time.process_time()
            adv = adversary.run_standard_evaluation(x[rows], y[rows], bs=args.batch)
            wall, cpu = time.time() - t0, time.process_time() - c0
            with torch.no_grad():
                flags[rows] = model(adv).argmax(1) == y[rows]
            stage['robust'] = flags.tolist()
            stage['seconds'] += wall
            stage['cpuSeconds'] += cpu
            run['seconds'] += wall
            run['cpuSeconds'] += cpu
            stage['batchesDone'] = b + 1
            # Which processors the stage's batches ran on: a run resumed on another machine is marked.
            stage['machines'] = sorted(set(stage.get('machines', [])) | {machine})
            save()
            print(f'eps {eps} {name}: batch {b + 1}/{n_batches} in {wall:.0f} s (cpu {cpu:.0f} s), robust so far '
                  f'{flags.sum().item() / flags.shape[0]:.2%}', flush=True)
        if not stage['done']:
            # A stage with no sample left to attack ran nowhere; it is marked with this machine all the same.
            stage.setdefault('machines', [machine])
            stage['done'] = True
            save()
        robust = flags
    run['robust'] = robust.tolist()
    save()
    return run


def count_square_noops(sq):
    """Counts Square's L-inf proposals that change no pixel. attack_single_run calls check_shape three
    times per iteration, on x_curr, x_best_curr and x_new in that order (square.py), so the third call's
    rows are compared with the second's."""
    stats = {'proposals': 0, 'noops': 0, 'calls': 0, 'best': None}
    orig = sq.check_shape

    def check_shape(t):
        out = orig(t)
        stats['calls'] += 1
        phase = stats['calls'] % 3
        if phase == 2:
            stats['best'] = out.clone()
        elif phase == 0:
            same = (out == stats['best']).view(out.shape[0], -1).all(1)
            stats['proposals'] += int(out.shape[0])
            stats['noops'] += int(same.sum())
        return out

    sq.check_shape = check_shape
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=os.path.join(ROOT, 'checkpoints', 'cnn-fmnist'))
    ap.add_argument('--output', default='last', choices=['first', 'last', 'average'])
    ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--eps', default='0.03')
    ap.add_argument('--attacks', default='apgd-ce')
    ap.add_argument('--square-queries', type=int, default=5000)
    ap.add_argument('--square-rescale', type=lambda s: s.lower() in ['1', 'true', 'yes'], default=False)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--batch', type=int, default=250)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--logits-n', type=int, default=1000)
    ap.add_argument('--verbose', action='store_true')
    ap.add_argument('--count-noops', action='store_true', help="count Square's proposals that change no pixel")
    ap.add_argument('--out', required=True)
    ap.add_argument('--resume', action='store_true', help='continue the `cascade` runs recorded in --out')
    args = ap.parse_args()
    threadpools = reference_env.limit_threads(args.threads)

    model = BenchModel(args.checkpoint, output=args.output)
    x, y = load_fashion_mnist_test(os.path.join(ROOT, 'data', 'fashion-mnist'), args.n)
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 500]) for i in range(0, x.shape[0], 500)])
    clean = logits.argmax(1) == y
    result = {
        'config': {k: v for k, v in vars(args).items()},
        'torch': torch.__version__,
        'threadpools': threadpools,
        'labels': y.tolist(),
        'cleanLogits': logits[:args.logits_n].tolist(),
        'clean': clean.tolist(),
        'runs': [],
    }

    def save():
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + '.tmp', 'w') as f:
            json.dump(result, f)
        os.replace(args.out + '.tmp', args.out)

    if args.resume and os.path.exists(args.out):
        with open(args.out) as f:
            previous = json.load(f)
        if previous['labels'] != result['labels'] or previous['clean'] != result['clean']:
            refuse(f'{args.out}: recorded for other images or another model; cannot resume')
        if previous.get('threadpools') != threadpools:
            def brief(pools, paths):
                return ', '.join(f"{p['internal_api']} {p['num_threads']}" + (f" {p['filepath']}" if paths else '')
                                 for p in pools or [])
            # The short form names API and threads; where only the libraries' files differ, name those.
            paths = brief(previous.get('threadpools'), False) == brief(threadpools, False)
            refuse(f'{args.out}: threadpools recorded as ({brief(previous.get("threadpools"), paths) or "BLAS threads not pinned"}); '
                     f'this run has ({brief(threadpools, paths)}): CPU seconds would mix two set-ups; resume with the same '
                     '--threads and BLAS library or start a new --out')
        # The attacks' settings must be the ones the recorded batches ran with.
        recorded_config = previous.get('config', {})
        changed = [k for k in ('seed', 'square_queries', 'square_rescale', 'output')
                   if k in recorded_config and recorded_config[k] != getattr(args, k)]
        if changed:
            was = ', '.join('--' + k.replace('_', '-') + ' ' + str(recorded_config[k]) for k in changed)
            refuse(f'{args.out}: recorded with {was}; resume with the same settings or start a new --out')
        # Checked here, before anything is saved, so that a refused resume leaves the file as it was.
        for run in previous['runs']:
            if run['attack'] == 'cascade' and run.get('batch') != args.batch:
                refuse(f'{args.out}: the run at eps {run["eps"]} used --batch {run.get("batch")}; resume it with the same --batch')
        result['runs'] = previous['runs']
    save()
    for eps in [float(e) for e in args.eps.split(',')]:
        for attack in [a for a in args.attacks.split(',') if a]:
            if attack == 'cascade':
                run = run_cascade(model, x, y, clean, eps, args, result, save)
            else:
                run = run_one(model, x, y, clean, eps, attack, args)
                run['machines'] = [reference_env.cpu_signature()]
                for stage in run['stages']:
                    stage['machines'] = run['machines']
                result['runs'].append(run)
            if 'squareNoOps' in run:
                print(f'square proposals {run["squareProposals"]}, changing no pixel {run["squareNoOps"]} '
                      f'({run["squareNoOps"] / max(run["squareProposals"], 1):.1%})')
            print(f'eps {eps} {attack}: robust {sum(run["robust"]) / len(run["robust"]):.2%} in {run["seconds"]:.1f} s '
                  + ' '.join(f'{s["attack"]}={sum(s["robust"]) / len(s["robust"]):.2%}' for s in run['stages']), flush=True)
            save()


if __name__ == '__main__':
    main()
