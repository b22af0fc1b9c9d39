"""Every registered KD loss, built through the registry on fake teacher/student features, against a NumPy computation
written from the method's formula (as published; where the CRD repository's form differs from the paper, the repository's
form, since that is what the toolkit reproduces and what the default weights were tuned for).

Everything runs in float64, and every comparison is *relative*: `np.testing.assert_allclose(rtol=RTOL)` with
RTOL = 1e-6 (atol 0), except KD-SVD (RTOL_SVD = 1e-5: it goes through two SVDs).

Connectors (1x1 convs, BN, linear embeddings, VID's regressor, FT's paraphraser/translator) are learned parts of a loss;
the NumPy side reads their *parameters* (set to random values first) and applies them itself: it never calls the
module's own helpers or sub-modules. Shapes are chosen so that both the sum over stage pairs and the pooling of the
larger map to the smaller are exercised (student stage 0 is 16x16, the teacher's 8x8).

OFD, ReviewKD and SSKD hook the networks themselves (pre-activations, transformed views): they run on small stand-in
networks whose every feature is a known function of the batch (`_Net`, `_MLP`), recomputed here in NumPy; OFD's margin is
checked against scipy.stats.truncnorm.

Default weights are checked against the published configurations:
- RepDistiller (CRD's repository, github.com/HobbitLong/RepDistiller, scripts/run_cifar_distill.sh at b0722bc):
  kd -a 0.9, hint (FitNet) -b 100, attention -b 1000, similarity -b 3000, correlation (CC) -b 0.02, vid -b 1,
  rkd -b 1, pkt -b 30000, abound -b 1, factor (FT) -b 200, fsp -b 50, nst -b 50, crd -b 0.8.
- mdistiller (github.com/megvii-research/mdistiller, mdistiller/engine/cfg.py at a08d46f): KD T 4 / KD_WEIGHT 0.9,
  AT P 2 / 1000, RKD 25 / 50 / 1.0, FITNET 100, KDSVD K 1 / 1.0, NST 50, PKT 30000, SP 3000, VID 1.0 / init var 5.0,
  CRD 0.8 / dim 128 / K 16384 / momentum 0.5 / T 0.07, DKD alpha 1.0 / beta 8.0 / T 4.0 / warm-up 20 (of 240 epochs).
"""
import numpy as np
import pytest
import torch
from cgankd.kd import KD_LOSSES, KDFeats, kd_defaults, list_kd_losses

RTOL, RTOL_SVD = 1e-6, 1e-5
N, K = 6, 5

REPDISTILLER_WEIGHTS = dict(blkd=0.9, fitnet=100, at=1000, sp=3000, cc=0.02, vid=1, rkd=1, pkt=30000, ab=1, ft=200,
                            fsp=50, nst=50, crd=0.8)
MDISTILLER_WEIGHTS = dict(blkd=0.9, at=1000, rkd=1.0, fitnet=100, kdsvd=1.0, nst=50, pkt=30000, sp=3000, vid=1.0,
                          crd=0.8, dkd=1.0, ofd=0.001, reviewkd=1.0)  # (ofd, reviewkd: checked where registered)
# Registered losses without a NumPy formula check here (none left: OFD, ReviewKD and SSKD are checked below)
KNOWN_UNCHECKED = set()
MDISTILLER_HPARAMS = dict(blkd={'T': 4}, at={'p': 2}, rkd={'w_dist': 25, 'w_angle': 50}, kdsvd={'k': 1},
                          vid={'init_var': 5.0}, crd={'feat_dim': 128, 'nce_k': 16384, 'momentum': 0.5, 'nce_t': 0.07},
                          dkd={'alpha': 1.0, 'beta': 8.0, 'T': 4.0})

def test_default_weights_match_published_configs():
    names = set(list_kd_losses())
    for n, w in {**REPDISTILLER_WEIGHTS, **MDISTILLER_WEIGHTS}.items():
        if n in names or n not in KNOWN_UNCHECKED: assert kd_defaults(n)['weight'] == w, n
    for n, hp in MDISTILLER_HPARAMS.items():
        for k, v in hp.items(): assert kd_defaults(n)['hparams'][k] == v, (n, k)
    assert names - set(REPDISTILLER_WEIGHTS) - set(MDISTILLER_WEIGHTS) <= {'sskd'}, names  # SSKD: its own repository

# ---- fake features ------------------------------------------------------------------------------------------------
def _feats(seed, chans, sizes, dfeat, signed=False):
    g = torch.Generator().manual_seed(seed)
    maps = [torch.randn(N, c, h, h, generator=g, dtype=torch.float64) for c, h in zip(chans, sizes)]
    if not signed: maps = [m.abs() for m in maps]  # post-ReLU stage outputs
    return KDFeats(torch.randn(N, K, generator=g, dtype=torch.float64) * 2, maps,
                   torch.randn(N, dfeat, generator=g, dtype=torch.float64).abs())

T_ = _feats(1, (4, 6, 8), (8, 4, 2), 8)
S_ = _feats(2, (3, 5, 7), (16, 4, 2), 7)   # stage 0 pooled 16 -> 8
Y = torch.tensor([0, 1, 2, 3, 4, 0])
INFO = {'task': 'classification', 'n_data': None, 'steps': 96, 'labels': None}
PAIRS = [(0, 0), (1, 1), (2, 2)]  # pair_layers(3, 3)

def build(name, t=T_, s=S_, info=INFO, **hp):
    "The registered loss module, built as the Distiller builds it; its parameters randomised, float64, train mode."
    torch.manual_seed(0)
    m = KD_LOSSES.get(name)(t, s, info, **{**kd_defaults(name)['hparams'], **hp}).double().train()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in m.parameters(): p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5 + (p.dim() == 1))
    return m

def call(m, t=T_, s=S_, step=0):
    r = m(t, s, y=Y, idx=None, step=step)
    return tuple(float(x) for x in r) if isinstance(r, tuple) else float(r)

def P(m): return [p.detach().numpy() for p in m.parameters()]
def npf(t): return t.detach().numpy()

# ---- NumPy building blocks, from the definitions ------------------------------------------------------------------
def pool(a, h):  # adaptive average pooling to (h, h) where the size divides: block means
    n, c, H, _ = a.shape; r = H // h
    return a.reshape(n, c, h, r, h, r).mean((3, 5))
def match(a, b):
    h = min(a.shape[-1], b.shape[-1]); return pool(a, h), pool(b, h)
def conv1x1(x, w): return np.einsum('oi,nihw->nohw', w[:, :, 0, 0], x)
def bn_train(x, gamma, beta, eps=1e-5):  # batch statistics over (N, H, W), biased variance
    mu, var = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + beta[None, :, None, None]
def conv3x3(x, w, b):  # stride 1, zero padding 1
    n, c, h, ww = x.shape; xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = sum(np.einsum('oi,nihw->nohw', w[:, :, i, j], xp[:, :, i:i + h, j:j + ww]) for i in range(3) for j in range(3))
    return out + b[None, :, None, None]
def convT3x3(x, w, b):  # ConvTranspose2d(k=3, stride 1, padding 1) == conv with the flipped, transposed kernel
    return conv3x3(x, np.flip(w, (2, 3)).transpose(1, 0, 2, 3), b)
def softmax(z): e = np.exp(z - z.max(1, keepdims=True)); return e / e.sum(1, keepdims=True)
def kl_rows(p, q): return (p * np.log(p / q)).sum(1)
def l2n(a, axis=1): return a / np.linalg.norm(a, axis=axis, keepdims=True)

def close(got, ref, rtol=RTOL): np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)

# ---- the losses ---------------------------------------------------------------------------------------------------
def test_blkd():  # Hinton et al.: T^2 * mean_n KL(softmax(z_t/T) || softmax(z_s/T))
    T = 4.; pt, ps = softmax(npf(T_.logits) / T), softmax(npf(S_.logits) / T)
    close(call(build('blkd')), T * T * kl_rows(pt, ps).mean())

def test_dkd():  # Zhao et al.: alpha TCKD + beta NCKD, each T^2 KL; linear warm-up over 20/240 of the steps
    T, a, b = 4., 1., 8.; pt, ps = softmax(npf(T_.logits) / T), softmax(npf(S_.logits) / T)
    gt = np.eye(K, dtype=bool)[Y.numpy()]
    bin_ = lambda p: np.stack([p[gt], p[~gt].reshape(N, K - 1).sum(1)], 1)
    tckd = kl_rows(bin_(pt), bin_(ps)).mean() * T * T
    nt, ns = pt[~gt].reshape(N, K - 1), ps[~gt].reshape(N, K - 1)
    nckd = kl_rows(nt / nt.sum(1, keepdims=True), ns / ns.sum(1, keepdims=True)).mean() * T * T
    m, warm = build('dkd'), round(96 * 20 / 240)
    close(call(m, step=0), (a * tckd + b * nckd) / warm)
    close(call(m, step=warm + 3), a * tckd + b * nckd)

def test_fitnet():  # Romero et al.: MSE(regressor(student hint), teacher guided layer); regressor conv1x1-BN-ReLU
    m = build('fitnet'); w, g, bt = P(m)
    ti, si = PAIRS[1]  # the middle pair
    fs, ft = match(npf(S_.maps[si]), npf(T_.maps[ti]))
    close(call(m), ((np.maximum(bn_train(conv1x1(fs, w), g, bt), 0) - ft) ** 2).mean())

def at_q(f, p=2.):  # Zagoruyko & Komodakis: Q = vec(sum_c |A_c|^p) / ||.||_2
    q = (np.abs(f) ** p).sum(1).reshape(len(f), -1); return l2n(q)

def test_at():  # sum over stage pairs of mean_{n,j} (Q_s - Q_t)^2, the larger map pooled first
    ref = sum(((at_q(a) - at_q(b)) ** 2).mean() for a, b in (match(npf(S_.maps[si]), npf(T_.maps[ti])) for ti, si in PAIRS))
    close(call(build('at')), ref)

def test_sp():  # Tung & Mori: G = F F^T, rows L2-normalised; ||G_t - G_s||_F^2 / N^2 on the last stage
    G = lambda f: l2n(f.reshape(N, -1) @ f.reshape(N, -1).T)
    close(call(build('sp')), ((G(npf(T_.maps[-1])) - G(npf(S_.maps[-1]))) ** 2).sum() / N ** 2)

def test_cc():  # Peng et al., RepDistiller distiller_zoo/CC.py form: linear embeddings, d = |e_s - e_t|, mean_i <d_i, d_{i+1}>
    m = build('cc'); ws, bs, wt, bt = P(m)
    d = np.abs((npf(S_.feat) @ ws.T + bs) - (npf(T_.feat) @ wt.T + bt))
    close(call(m), (d[:-1] * d[1:]).sum(1).mean())

def test_vid():  # Ahn et al.: -log N(t | mu(s), sigma^2) without the 2 pi constant; sigma^2 = softplus(alpha) + eps
    m = build('vid'); prm = P(m); ref = 0.
    for i, (ti, si) in enumerate(PAIRS):
        part = prm[4 * i: 4 * i + 4]  # per pair: the variance parameter (C_t,) and the three 1x1 conv weights, in order
        (alpha,), (w1, w2, w3) = [q for q in part if q.ndim == 1], [q for q in part if q.ndim == 4]
        fs, ft = match(npf(S_.maps[si]), npf(T_.maps[ti]))
        mu = conv1x1(np.maximum(conv1x1(np.maximum(conv1x1(fs, w1), 0), w2), 0), w3)
        var = (np.log1p(np.exp(alpha)) + 1e-5)[None, :, None, None]
        ref += (0.5 * ((mu - ft) ** 2 / var + np.log(var))).mean()
    close(call(m), ref)

def test_vid_init_var():  # log_scale starts so that the variance is init_var
    m = KD_LOSSES.get('vid')(T_, S_, INFO, init_var=5.0)
    for p in m.parameters():
        if p.dim() == 1: close(np.log1p(np.exp(p.detach().double().numpy())) + 1e-5, np.full(p.shape, 5.0), rtol=1e-5)

def _dist_angle(f):
    n = len(f); D = np.linalg.norm(f[:, None] - f[None], axis=2); D = D / D[~np.eye(n, dtype=bool)].mean()
    A = np.zeros((n, n, n))
    for j in range(n):
        for i in range(n):
            for k in range(n):
                u, v = f[i] - f[j], f[k] - f[j]; nu, nv = np.linalg.norm(u), np.linalg.norm(v)
                A[j, i, k] = 0 if nu == 0 or nv == 0 else u @ v / (nu * nv)
    return D, A
def _sl1(a, b): d = np.abs(a - b); return np.where(d < 1, 0.5 * d ** 2, d - 0.5).mean()

def test_rkd():  # Park et al.: 25 * smooth-L1 of mean-normalised distances + 50 * smooth-L1 of angle cosines
    Ds, As = _dist_angle(npf(S_.feat)[:, :7]); Dt, At = _dist_angle(npf(T_.feat)[:, :7])
    s7 = KDFeats(S_.logits, S_.maps, S_.feat[:, :7]); t7 = KDFeats(T_.logits, T_.maps, T_.feat[:, :7])
    close(call(build('rkd', t7, s7), t7, s7), 25 * _sl1(Ds, Dt) + 50 * _sl1(As, At))

def test_pkt():  # Passalis & Tefas: cosine kernels (cos+1)/2, row-normalised; mean KL(P_t || P_s) entries
    def Pk(f): f = l2n(f); Kk = (f @ f.T + 1) / 2; return Kk / Kk.sum(1, keepdims=True)
    pt, ps = Pk(npf(T_.feat)), Pk(npf(S_.feat))
    close(call(build('pkt')), (pt * np.log(pt / ps)).mean(), rtol=1e-5)  # the implementation's eps=1e-7 guards

def test_ab():  # Heo et al. (RepDistiller ABLoss): connector conv1x1-BN; sum_i 2^(i-n+1) * altL2 / N / 1000 * 3
    Ts = _feats(4, (4, 6, 8), (8, 4, 2), 8, signed=True)  # the teacher's activation boundary needs signs
    m = build('ab', t=Ts); prm = P(m); ref = 0.
    for i, (ti, si) in enumerate(PAIRS):
        w, g, b = prm[3 * i: 3 * i + 3]
        fs, ft = match(npf(S_.maps[si]), npf(Ts.maps[ti]))
        src = bn_train(conv1x1(fs, w), g, b)
        alt = ((src + 1) ** 2 * ((src > -1) & (ft <= 0)) + (src - 1) ** 2 * ((src <= 1) & (ft > 0))).sum()
        ref += 2. ** (i - len(PAIRS) + 1) * alt / N / 1000 * 3
    close(call(m, t=Ts), ref)

def test_ft():  # Kim et al.: L1 of normalised factors (translator(s) vs paraphraser-encoder(t)); plus the paraphraser's reconstruction MSE
    m = build('ft'); prm = P(m)  # enc, dec, trans: 3 blocks of (conv w, conv b, bn gamma, bn beta) each
    def stack(x, ps, transpose=False):
        for j in range(3):
            w, b, g, bt = ps[4 * j: 4 * j + 4]
            y = bn_train((convT3x3 if transpose else conv3x3)(x, w, b), g, bt); x = np.where(y > 0, y, 0.1 * y)
        return x
    fs, ft = match(npf(S_.maps[-1]), npf(T_.maps[-1]))
    fac_t = stack(ft, prm[0:12]); rec = stack(fac_t, prm[12:24], True); fac_s = stack(fs, prm[24:36])
    desc = lambda f: l2n((f ** 2).mean(1).reshape(N, -1))
    main, recon = call(m)
    close(main, np.abs(desc(fac_s) - desc(fac_t)).mean()); close(recon, ((rec - ft) ** 2).mean())

def test_fsp():  # Yim et al.: G(a, b) = sum_hw a_i b_j / HW between consecutive stages; mean squared difference, summed
    m = build('fsp'); ws = P(m)
    gs = [conv1x1(npf(S_.maps[si]), w) for w, (ti, si) in zip(ws, PAIRS)]
    gt = [npf(T_.maps[ti]) for ti, si in PAIRS]
    def G(a, b): a, b = match(a, b); return np.einsum('nahw,nbhw->nba', a, b) / (a.shape[2] * a.shape[3])
    close(call(m), sum(((G(gs[i], gs[i + 1]) - G(gt[i], gt[i + 1])) ** 2).mean() for i in range(2)))

def test_nst():  # Huang & Wang: MMD^2 with k(x, y) = (x.y)^2 between channel patterns, L2-normalised over positions; summed over pairs
    ref = 0.
    for ti, si in PAIRS:
        fs, ft = match(npf(S_.maps[si]), npf(T_.maps[ti]))
        a, b = l2n(fs.reshape(N, fs.shape[1], -1), 2), l2n(ft.reshape(N, ft.shape[1], -1), 2)
        k = lambda p, q: np.mean(np.einsum('nid,njd->nij', p, q) ** 2)
        ref += k(b, b) + k(a, a) - 2 * k(a, b)
    close(call(build('nst')), ref)

def test_kdsvd():  # Lee et al.: top-k right singular vectors, student's aligned (order, sign) to the teacher's, scaled by the
    # teacher's normalised singular values; squared difference of RBF (exp(-d^2/8)) maps between consecutive stages
    k = 1; m = build('kdsvd', k=k); ws = P(m)
    def top(f, n):
        x = f.reshape(N, f.shape[1], -1).transpose(0, 2, 1)  # (N, HW, C)
        # The decomposition itself is torch's (LAPACK through torch), only for its sign convention: singular vectors are
        # defined up to sign, numpy's LAPACK path picks other signs for wide matrices, and the loss's inter-stage RBF
        # depends on the teacher's signs (the method aligns the student to the teacher, not the teacher to anything).
        _, sv, vh = (a.numpy() for a in torch.linalg.svd(torch.from_numpy(np.ascontiguousarray(x)), full_matrices=False))
        return l2n(vh.transpose(0, 2, 1)[:, :, :n], 1), l2n(sv[:, :n], 1)
    prev, ref = None, 0.
    for w, (ti, si) in zip(ws, PAIRS):
        fs, ft = match(conv1x1(npf(S_.maps[si]), w), npf(T_.maps[ti]))
        vt, st = top(ft, k); vs, _ = top(fs, k + 3)
        cos = np.einsum('nci,ncj->nij', vs, vt)  # (N, k+3, k)
        mask = np.where(np.abs(cos) == np.abs(cos).max(1, keepdims=True), np.sign(cos), 0)
        vs = np.einsum('nci,nij->ncj', vs, mask) * st[:, None]; vt = vt * st[:, None]
        if prev is not None:
            rbf = lambda a, b: np.exp(-(a[:, :, None] - b[:, None]) ** 2 / 8)
            ref += ((rbf(vs, prev[0]) - rbf(vt, prev[1])) ** 2).sum() / N
        prev = (vs, vt)
    close(call(m), ref, rtol=RTOL_SVD)

# ---- methods that hook the networks themselves (OFD, ReviewKD: pre-activations; SSKD: transformed views) -------------
# These factories need the networks in `info`. The stand-ins below make every input of the loss a known function of the
# batch: `_Net` cuts a flat input (N, F) into its stage maps' pre-activations (through an eval-mode BatchNorm when `bn`,
# the BN OFD reads its margin from) and its penultimate feature; stage outputs are the ReLUs of those.
class _Stage(torch.nn.Module):
    def __init__(self, c, h, bn):
        super().__init__(); self.c, self.h = c, h
        self.bn = torch.nn.BatchNorm2d(c) if bn else None
    def forward(self, x):
        z = x.reshape(len(x), self.c, self.h, self.h)
        return torch.relu(self.bn(z) if self.bn is not None else z)

class _Net(torch.nn.Module):
    def __init__(self, chans, sizes, dfeat, bn):
        super().__init__()
        self.cut = [c * h * h for c, h in zip(chans, sizes)] + [dfeat]
        self.stages = torch.nn.ModuleList([_Stage(c, h, bn) for c, h in zip(chans, sizes)])
        self.head = torch.nn.Linear(dfeat, K)
        self.kd_layers = [f'stages.{i}' for i in range(len(chans))]
    def forward(self, x):
        parts = torch.split(x[:, :sum(self.cut)], self.cut, 1)  # both stand-ins read one batch, each its first columns
        for st, p in zip(self.stages, parts): st(p)
        return self.head(torch.relu(parts[-1]))

def _nets(seed=5):
    "Teacher (stage BNs with random affine and running statistics; one channel's BN all but never negative: the -3 sigma margin) and student, float64, with a batch."
    g = torch.Generator().manual_seed(seed); torch.manual_seed(seed)
    te, st = _Net((4, 6, 8), (8, 4, 2), 8, True).double(), _Net((3, 5, 7), (16, 4, 2), 7, False).double()
    with torch.no_grad():
        for net in (te, st):
            for p in net.parameters(): p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        for b in (s.bn for s in te.stages):
            b.weight.mul_(0.8).add_(torch.sign(b.weight) * 0.4)   # |gamma| >= 0.4, both signs (the margin uses |gamma|)
            b.running_mean.copy_(torch.randn(b.num_features, generator=g, dtype=torch.float64) * 0.3)
            b.running_var.copy_(torch.rand(b.num_features, generator=g, dtype=torch.float64) + 0.5)
        te.stages[0].bn.bias[1] = 4 * te.stages[0].bn.weight[1].abs()  # P(z < 0) = Phi(-4) < 0.001
    te.eval().requires_grad_(False)
    return te, st, torch.randn(N, max(sum(te.cut), sum(st.cut)), generator=g, dtype=torch.float64)

def _info(te, st, x, **extra):
    from cgankd.kd import Taps
    tt, ts = Taps(te), Taps(st)
    return {**INFO, 'teacher': te, 'student': st, 't_taps': tt, 's_taps': ts, 'sample_x': x, **extra}

def _run(info, x):
    "Forward both networks on the batch (as the Distiller does before calling its losses); their tapped features."
    info['teacher'](x); info['student'](x)
    return info['t_taps'].feats(), info['s_taps'].feats()

def _np_inputs(te, st, x):
    "The pre-activations, post-activation maps and penultimates of both stand-ins, in NumPy from the batch and the teacher's BN."
    xn = npf(x); ch = lambda net: np.split(xn[:, :sum(net.cut)], np.cumsum(net.cut)[:-1], 1)
    t_parts, s_parts = ch(te), ch(st)
    t_pre = []
    for p, s_ in zip(t_parts, te.stages):
        b = s_.bn; z = p.reshape(N, s_.c, s_.h, s_.h); v = lambda a: npf(a)[None, :, None, None]
        t_pre.append(v(b.weight) * (z - v(b.running_mean)) / np.sqrt(v(b.running_var) + 1e-5) + v(b.bias))
    s_pre = [p.reshape(N, s_.c, s_.h, s_.h) for p, s_ in zip(s_parts, st.stages)]
    return t_pre, s_pre, np.maximum(t_parts[-1], 0), np.maximum(s_parts[-1], 0)

def ofd_margin_ref(gamma, beta):  # E[z | z < 0] for z ~ N(beta, gamma^2), from scipy's truncated normal; -3|gamma| if P(z < 0) <= 0.001
    from scipy.stats import norm, truncnorm
    s = np.abs(gamma)
    return np.array([truncnorm(-np.inf, -b / sd, loc=b, scale=sd).mean() if norm.cdf(-b / sd) > 1e-3 else -3 * sd
                     for sd, b in zip(s, beta)])

def test_ofd():  # Heo et al. 2019 (clovaai/overhaul-distillation, mdistiller OFD): connector conv1x1-BN on the student's
    # pre-activation; partial L2 against max(teacher pre-activation, margin), zero where student <= target <= 0; summed;
    # pair i of k weighted 1 / 2^(k-i-1); / batch size
    from cgankd.kd import ofd_margin
    gm, bt = np.array([1., -0.5, 2., 0.1, 0.3]), np.array([0., -1., 1., 2., 0.9])  # the last two: P(z < 0) below / above 0.001
    ref_m = ofd_margin_ref(gm, bt)
    assert ref_m[3] == -3 * 0.1 and ref_m[4] != -3 * 0.3
    close(npf(ofd_margin(torch.tensor(gm), torch.tensor(bt))), ref_m)
    te, st, x = _nets(); info = _info(te, st, x)
    m = build('ofd', *_run(info, x), info=info)
    t, s = _run(info, x)
    t_pre, s_pre, _, _ = _np_inputs(te, st, x)
    margins = [ofd_margin_ref(npf(te.stages[ti].bn.weight), npf(te.stages[ti].bn.bias)) for ti, _ in PAIRS]
    assert margins[0][1] == -3 * abs(float(te.stages[0].bn.weight[1]))  # the fallback is exercised
    for i, mg in enumerate(margins): close(npf(getattr(m, f'margin{i}')), mg)
    assert m.sources == ['bn'] * 3
    prm, ref, k = P(m), 0., len(PAIRS)
    for i, (ti, si) in enumerate(PAIRS):
        w, g, b = prm[3 * i: 3 * i + 3]
        fs, ft = match(bn_train(conv1x1(s_pre[si], w), g, b), t_pre[ti])  # student 16x16 -> 8x8 after the connector
        tgt = np.maximum(ft, margins[i][None, :, None, None])
        ref += ((fs - tgt) ** 2 * ((fs > tgt) | (tgt > 0))).sum() / 2. ** (k - i - 1)
    close(call(m, t, s), ref / N)
    m.close(); info['t_taps'].close(); info['s_taps'].close()

def hcl_ref(fs, ft):  # Chen et al. 2021 (dvlab-research/ReviewKD `hcl`): MSE of the map, plus MSE of its 4x4, 2x2, 1x1
    # average pools (those smaller than the map) weighted 1/2, 1/4, 1/8 in that order, divided by the weights' sum
    levels = [l for l in (4, 2, 1) if l < fs.shape[2]]
    terms = [(1., ((fs - ft) ** 2).mean())] + [(0.5 ** (j + 1), ((pool(fs, l) - pool(ft, l)) ** 2).mean()) for j, l in enumerate(levels)]
    return sum(w * v for w, v in terms) / sum(w for w, _ in terms)

def nearest(a, h):  # torch's 'nearest' resize of a square map to (h, h): source index floor(i * H / h)
    idx = (np.arange(h) * a.shape[2]) // h; return a[:, :, idx][:, :, :, idx]

def sigmoid(z): return 1 / (1 + np.exp(-z))

def test_hcl():
    from cgankd.kd import hcl_loss
    g = np.random.default_rng(0); a, b = g.normal(size=(2, N, 3, 8, 8)); c, d = g.normal(size=(2, N, 3, 4, 4))
    e, f = g.normal(size=(2, N, 3, 1, 1))
    # 8x8: 4, 2, 1 pools at 1/2, 1/4, 1/8 (sum 1.875); 4x4: the 2 and 1 pools at 1/2, 1/4; 1x1: the map alone
    close(hcl_ref(a, b), (((a - b) ** 2).mean() + ((pool(a, 4) - pool(b, 4)) ** 2).mean() / 2 + ((pool(a, 2) - pool(b, 2)) ** 2).mean() / 4
                          + ((a.mean((2, 3)) - b.mean((2, 3))) ** 2).mean() / 8) / 1.875)
    got = hcl_loss([torch.from_numpy(v) for v in (a, c, e)], [torch.from_numpy(v) for v in (b, d, f)])
    close(float(got), hcl_ref(a, b) + hcl_ref(c, d) + ((e - f) ** 2).mean())

def test_reviewkd():  # Chen et al. 2021: the student's stage maps and penultimate (as 1x1), deepest first through ABFs
    # (conv1x1-BN to `mid`; fused with the nearest-upsampled deeper residual by a sigmoid 1x1 attention on the concatenation;
    # nearest-resized to the teacher's size; conv3x3-BN), each level's output against the teacher's pre-activation (and
    # penultimate) by HCL, summed; ramped up by (step + 1) / warm-up (20/240 of the steps)
    te, st, x = _nets(); info = _info(te, st, x)
    m = build('reviewkd', *_run(info, x), info=info)
    t, s = _run(info, x)
    t_pre, s_pre, t_feat, s_feat = _np_inputs(te, st, x)
    xs = [np.maximum(a, 0) for a in s_pre] + [s_feat[:, :, None, None]]   # the student's post-activation maps
    ft = t_pre + [t_feat[:, :, None, None]]
    outs, res = [], None
    for lvl, abf in zip(range(len(xs) - 1, -1, -1), m.abfs):  # deepest first
        p = {n: npf(v) for n, v in abf.named_parameters()}
        h = bn_train(conv1x1(xs[lvl], p['conv1.0.weight']), p['conv1.1.weight'], p['conv1.1.bias'])
        if res is not None:
            r = nearest(res, h.shape[2])
            z = sigmoid(conv1x1(np.concatenate([h, r], 1), p['att.0.weight']) + p['att.0.bias'][None, :, None, None])
            h = h * z[:, :1] + r * z[:, 1:]
        else: assert 'att.0.weight' not in p  # the deepest level has nothing to fuse
        h = nearest(h, ft[lvl].shape[2]); res = h
        w2 = p['conv2.0.weight']
        outs.insert(0, bn_train(conv3x3(h, w2, np.zeros(len(w2))), p['conv2.1.weight'], p['conv2.1.bias']))
    ref = sum(hcl_ref(o, f) for o, f in zip(outs, ft))
    warm = round(96 * 20 / 240)
    close(call(m, t, s, step=0), ref / warm)
    close(call(m, t, s, step=warm + 3), ref)
    m.close(); info['t_taps'].close(); info['s_taps'].close()

class _MLP(torch.nn.Module):  # SSKD's stand-in: a linear+ReLU body on the flattened image, so a rotation changes everything
    def __init__(self, pix, d):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(pix, d), torch.nn.ReLU())
        self.head = torch.nn.Linear(d, K); self.kd_layers = ['body']
    def forward(self, x): return self.head(self.body(x))

def _lsm(z): z = z - z.max(1, keepdims=True); return z - np.log(np.exp(z).sum(1, keepdims=True))
def _kl_bm(log_p, q, T): return (q * (np.log(q) - log_p)).sum() / len(q) * T * T  # KL(q || p), batchmean, * T^2
def _keep(scores, target, ratio):  # SSKD's error filter: rows where the teacher ranks the target first, plus int(ratio *
    # wrong) of the others, best rank of the target first; sorted
    rank = np.array([np.flatnonzero(np.argsort(-r, kind='stable') == c)[0] for r, c in zip(scores, target)])
    return np.sort(np.argsort(rank, kind='stable')[:(rank == 0).sum() + int((rank > 0).sum() * ratio)])

def test_sskd():  # Xu et al. 2020 (xuguodong03/SSKD student.py): 0.9 KD(T=4) on normal views + 2.7 KD(T=4) on the transformed
    # views the teacher classifies best (ratio_tf of its errors kept) + 10 KL(T=0.5) between the teacher's and student's
    # softmaxed cosine-similarity rows (each transformed view's projected penultimate vs every normal one's), on the rows
    # whose source the teacher ranks best (ratio_ss of its errors kept); every KL batchmean * T^2
    from cgankd.kd import Taps, ss_head
    g = torch.Generator().manual_seed(6); torch.manual_seed(6)
    te, st = _MLP(16, 8).double().eval().requires_grad_(False), _MLP(16, 7).double()
    t_head = ss_head(8).double()
    with torch.no_grad():
        for p in [*te.parameters(), *st.parameters(), *t_head.parameters()]: p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(N, 1, 4, 4, generator=g, dtype=torch.float64)
    info = {**INFO, 'teacher': te, 'student': st, 't_taps': Taps(te), 's_taps': Taps(st), 'sample_x': x, 'sskd_head': t_head}
    def feats():
        te(x); st(x); return info['t_taps'].feats(), info['s_taps'].feats()
    # NumPy: the networks, both heads and the views from their parameters
    tp, sp, hp = P(te), P(st), P(t_head)
    def mlp(ps, v): f = np.maximum(v.reshape(len(v), -1) @ ps[0].T + ps[1], 0); return f, f @ ps[2].T + ps[3]
    def proj(ps, f): return np.maximum(f @ ps[0].T + ps[1], 0) @ ps[2].T + ps[3]
    xn = npf(x); views = np.concatenate([np.rot90(xn, k, axes=(2, 3)) for k in (1, 3)])  # k-major: row r from image r % N
    (tf_n, tl_n), (sf_n, sl_n), (tf_v, tl_v), (sf_v, sl_v) = mlp(tp, xn), mlp(sp, xn), mlp(tp, views), mlp(sp, views)
    cos = lambda a, b: l2n(a) @ l2n(b).T
    y, T, sT = npf(Y), 4., 0.5
    for ratio_tf in (1.0, 0.5):  # the default keeps every transformed view for the class KD; 0.5 drops half the errors
        m = build('sskd', *feats(), info=info, ratio_tf=ratio_tf)
        t, s = feats()
        total = float(m(t, s, y=Y, x=x, idx=None, step=0))
        sh = P(m)  # the student's projection head: the module's only parameters
        l_kd = _kl_bm(_lsm(sl_n / T), softmax(tl_n / T), T)
        p_aug = softmax(tl_v / T); keep_tf = _keep(p_aug, np.tile(y, 2), ratio_tf)
        l_tf = _kl_bm(_lsm(sl_v / T)[keep_tf], p_aug[keep_tf], T)
        t_sim, s_sim = cos(proj(hp, tf_v), proj(hp, tf_n)), cos(proj(sh, sf_v), proj(sh, sf_n))  # (2N, N)
        keep_ss = _keep(t_sim, np.arange(2 * N) % N, 0.75)
        l_ss = _kl_bm(_lsm(s_sim / sT)[keep_ss], softmax(t_sim / sT)[keep_ss], sT)
        assert 0 < len(keep_ss) < 2 * N and (ratio_tf == 1.0) == (len(keep_tf) == 2 * N), (keep_ss, keep_tf)
        assert (m.parts['kept_tf'], m.parts['kept_ss']) == (len(keep_tf), len(keep_ss))
        close([m.parts['kd'], m.parts['tf'], m.parts['ss']], [l_kd, l_tf, l_ss])
        close(total, 0.9 * l_kd + 2.7 * l_tf + 10 * l_ss)
    info['t_taps'].close(); info['s_taps'].close()

def test_every_loss_has_a_formula_check():
    checked = {n[5:] for n in globals() if n.startswith('test_') and n[5:] in list_kd_losses()}
    # CRD's loss needs its memory bank and sampled negatives: checked against its formula in nbs/06_kd.ipynb
    names = set(list_kd_losses())
    assert checked | {'crd'} | (KNOWN_UNCHECKED & names) == names, names - checked
