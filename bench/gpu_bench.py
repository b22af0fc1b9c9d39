"""GPU readiness benchmark for the paper recipes.

Measures, for the CIFAR-100 and ImageNet-100 recipes:
  * the generation pass that fills the fake bank -- the full-size generator of the recipe, the DRE feature network
    plus ratio MLP (log density ratio) and the teacher (prediction and loss) on every generated image, through
    `cgankd.bank.generate_shard` itself -- as generated-and-scored images per second;
  * one student training epoch (the recipe's first student, its batch size, the paper's training-set size) through
    `cgankd.train.train_classifier`, timed over a few steps and extrapolated to an epoch.

Networks are randomly initialised (speed does not depend on the weights). On CUDA the GANs run under bf16 autocast and
channels_last (cgankd.paper_gans); the classifiers run in float32 as in the pipeline.

    python bench/gpu_bench.py                 # on a GPU: recipe batch sizes
    python bench/gpu_bench.py --quick         # anywhere (CPU too): tiny batches, few iterations
"""
import argparse, json, math, sys, time
from pathlib import Path
import numpy as np
import torch

from cgankd.core import get_device
from cgankd.models import create_model, count_params
from cgankd.gan import GANS
import cgankd.paper_gans  # noqa: F401  registers the paper GANs
from cgankd.dre import class_ratio_model, DensityRatio
from cgankd.bank import bank_meta, generate_shard
from cgankd.train import train_classifier
from cgankd.recipes import recipe_config, TRAIN_SIZES

GEN_BATCH = 1000  # the pipeline's generation batch (fill_bank's default)

def _sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def bench_generation(name, dev, quick):
    cfg = recipe_config(name)
    g, k = cfg['gan'], 100
    size = {'biggan32': 32, 'biggan_deep128': 128}[g['name']]
    G, _ = GANS.create(g['name'], img_size=size, channels=3, num_classes=k, dim_z=g['dim_z'], g_ch=g['g_ch'], d_ch=g['d_ch'],
                       shared_dim=g['shared_dim'])
    mk = lambda a: create_model(a, num_classes=k, in_channels=3, img_size=size).to(dev).eval()
    fnet, teacher = mk(cfg['dre']['feature_arch']), mk(cfg['teacher']['arch'])
    dr = DensityRatio(fnet, class_ratio_model(fnet.feat_dim, k).to(dev)).eval()
    G = G.to(dev).eval()
    batch = 4 if quick else GEN_BATCH
    shard = batch * (1 if quick else 5)
    meta = bank_meta('classification', k, (3, size, size), shard, 0)
    generate_shard(G, dr, teacher, 0, meta, batch)  # warm-up (cudnn autotune, channels_last conversion)
    _sync(dev)
    reps = 1 if quick else 3
    t0 = time.perf_counter()
    for i in range(reps): generate_shard(G, dr, teacher, i + 1, meta, batch)
    _sync(dev); dt = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == 'cuda' else float('nan')
    return {'recipe': name, 'gan': g['name'], 'size': size, 'batch': batch, 'images': reps * shard,
            'images_per_s': reps * shard / dt, 'G_params_M': count_params(G) / 1e6,
            'feature_net': cfg['dre']['feature_arch'], 'teacher': cfg['teacher']['arch'], 'peak_gpu_mem_gb': mem}

def bench_student_epoch(name, dev, quick):
    cfg = recipe_config(name)
    st = cfg['student']
    size = 32 if name == 'cifar100' else 128
    arch, batch = st['archs'][0], (8 if quick else st['batch_size'])
    steps = 3 if quick else 50
    n = 256 if quick else 4096
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8), rng.integers(0, 100, n)
    m = create_model(arch, num_classes=100, in_channels=3, img_size=size).to(dev)
    train_classifier(m, x, y, 2, batch, st['lr'], st['weight_decay'], augment=st['augment'], progress=False)  # warm-up
    _sync(dev); t0 = time.perf_counter()
    train_classifier(m, x, y, steps, batch, st['lr'], st['weight_decay'], augment=st['augment'], progress=False)
    _sync(dev); per_step = (time.perf_counter() - t0) / steps
    steps_per_epoch = math.ceil(TRAIN_SIZES[name] / st['batch_size'])
    # at the recipe batch: steps x time per step; with --quick's tiny batch: scaled per image (a GPU is faster per image at larger batches)
    epoch = per_step * steps_per_epoch if batch == st['batch_size'] else per_step / batch * TRAIN_SIZES[name]
    return {'recipe': name, 'student': arch, 'batch': batch, 'recipe_batch': st['batch_size'], 'ms_per_step': per_step * 1e3,
            'steps_per_epoch': steps_per_epoch, 'train_images': TRAIN_SIZES[name], 'epoch_s': epoch,
            'note': f'(scaled per image from batch {batch})' if batch != st['batch_size'] else ''}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='tiny batches and few iterations (runs on a CPU)')
    p.add_argument('--device', default='auto')
    p.add_argument('--recipes', default='cifar100,imagenet100')
    p.add_argument('--out', default=None, help='write the results as JSON here')
    a = p.parse_args(argv)
    dev = get_device(a.device)
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    print(f"device: {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU, ' + str(torch.get_num_threads()) + ' threads'})"
          f"{'  [quick]' if a.quick else ''}")
    res = {'device': str(dev), 'quick': a.quick, 'generation': [], 'student_epoch': []}
    for r in a.recipes.split(','):
        g = bench_generation(r, dev, a.quick); res['generation'].append(g)
        print(f"[{r}] generation: {g['gan']} ({g['G_params_M']:.1f} M) + {g['feature_net']} DRE + {g['teacher']} teacher at "
              f"{g['size']}x{g['size']}, batch {g['batch']}: {g['images_per_s']:.1f} generated-and-scored images/s "
              + (f"(peak GPU memory {g['peak_gpu_mem_gb']:.1f} GB)" if dev.type == 'cuda' else ''))
        s = bench_student_epoch(r, dev, a.quick); res['student_epoch'].append(s)
        print(f"[{r}] student {s['student']} batch {s['batch']}: {s['ms_per_step']:.1f} ms/step -> one epoch of {s['train_images']} "
              f"images (batch {s['recipe_batch']}) ~ {s['epoch_s']:.0f} s {s['note']}")
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1))
    return res

if __name__ == '__main__': main()
