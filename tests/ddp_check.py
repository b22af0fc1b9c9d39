"""Run under `torchrun --nproc_per_node=2` (or plainly, as the 1-process reference) by tests/test_distributed.py.
Writes what each rank ends with to OUT/rank{r}.pt; the test compares ranks with each other and with one process."""
import os, sys
from pathlib import Path
import torch
from torch import nn
import torch.nn.functional as F
from cgankd.distributed import init_from_env, GradSync, shutdown
from cgankd.train import train_classifier, train_gan
from cgankd.models import create_model
from cgankd.bank import FakeBank, bank_meta, fill_bank
from cgankd.gan import biggan
from cgankd.dre import DensityRatio, class_ratio_model

out = Path(sys.argv[1]); torch.set_num_threads(1)
d = init_from_env('cpu'); res = {'world': d.world}

# 1. GradSync: each rank takes its half of one global batch; after the step every rank holds the parameters of one step
#    on the whole batch (mean loss over equal halves = the mean over the concatenation). No BN here: BN's batch
#    statistics are per rank by design, so they would make the one-process step differ.
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
opt = GradSync(torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9), d)
for _ in range(2):
    opt.zero_grad(); F.cross_entropy(net(d.split(x)), d.split(y)).backward(); opt.step()
res['gradsync'] = [p.detach().clone() for p in net.parameters()]

# 2. train_classifier (DDP over the ranks' parts of each global batch): a BN-free network, so one process must agree
g = torch.Generator().manual_seed(1)
imgs, labs = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(40) % 10
torch.manual_seed(0); m = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
train_classifier(m, imgs, labs, 4, batch_size=8, seed=0, progress=False)
res['mlp'] = {k: v.clone() for k, v in m.state_dict().items()}

# 3. a BN network trained by train_classifier: parameters and BN running statistics after training, per rank
torch.manual_seed(0); c = create_model('cnn_small', img_size=8)
train_classifier(c, imgs, labs, 4, batch_size=8, seed=0, progress=False)
res['cnn'] = {k: v.clone() for k, v in c.state_dict().items()}

# 3b. train_gan: BN running statistics of G, D and the EMA generator after training, per rank
torch.manual_seed(0); Gg, Dg = biggan(8, 1, 10, dim_z=16, g_ch=8, d_ch=8)
ema = train_gan(Gg, Dg, imgs, labs, 2, batch_size=8, n_dis=1, progress=False)
res['gan_buffers'] = {n: {k: v.clone() for k, v in mod.named_buffers() if v.is_floating_point()}
                      for n, mod in (('G', Gg), ('D', Dg), ('ema', ema.model))}

# 4. average_buffers: rank-dependent running statistics become their mean over ranks
bn = nn.BatchNorm2d(3)
with torch.no_grad(): bn.running_mean.fill_(float(d.rank + 1)); bn.running_var.fill_(float(10 * (d.rank + 1)))
d.average_buffers(bn); res['avg_buffers'] = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))

# 5. the bank: which shards this rank wrote (the real write, recorded)
class Recorded(FakeBank):
    def write_shard(self, k, data): res.setdefault('wrote', []).append(k); return super().write_shard(k, data)
torch.manual_seed(0)
G = biggan(8, 1, 10, dim_z=16, g_ch=8, d_ch=8)[0]
f = create_model('cnn_small'); dr = DensityRatio(f, class_ratio_model(f.feat_dim, 10)); t = create_model('cnn_small')
fill_bank(Recorded(out/'bank', bank_meta('classification', 10, [1, 8, 8], shard_size=50, seed=3)), G, dr, t,
          lambda b: False, max_samples=300, progress=False)
res.setdefault('wrote', [])
torch.save(res, out/f'rank{d.rank}.pt')
shutdown()
