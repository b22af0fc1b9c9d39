"The model zoo is reachable through `cgankd.models` alone, in a fresh interpreter, whichever module is imported first."
import subprocess, sys, os
from conftest import ROOT

def _py(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout

def test_zoo_registered_by_the_hub_through_models():
    out = _py("import sys, torch\n"
              "from cgankd.models import create_model, list_models, count_params\n"
              "assert 'cgankd.zoo' in sys.modules  # importing any cgankd module registers every model (the hub)\n"
              "m = create_model('wrn_40_2', num_classes=100, in_channels=3, img_size=32)\n"
              "r = create_model('resnet20', in_channels=1, img_size=64, task='regression').eval()\n"
              "print(count_params(m), tuple(r(torch.zeros(2, 1, 64, 64)).shape), len(list_models()))")
    n, shape, n_models = out.split(' ', 1)[0], out.split(' ', 1)[1].rsplit(' ', 1)[0], int(out.split()[-1])
    assert n == '2255156' and shape == '(2, 1)', out
    assert n_models >= 26 + 4

def test_list_models_sees_zoo_and_zoo_imports_first():
    out = _py("import cgankd.zoo as z\nfrom cgankd.models import list_models\n"
              "names = list_models(); missing = [n for n in z.zoo_names() if n not in names]\n"
              "assert not missing, missing\nassert {'cnn_small', 'mlp'} <= set(names)\nprint(len(z.zoo_names()))")
    assert out.strip() == '26'

def test_unknown_name_lists_zoo():
    out = _py("from cgankd.models import create_model\nfrom cgankd.core import UnknownNameError\n"
              "try: create_model('resnet9000')\nexcept UnknownNameError as e: print(e)")
    assert 'resnet110' in out and 'densenet161' in out and 'cnn_small' in out


# ---- Parameter counts against an independent source --------------------------------------------------------------
# The counts below are NOT taken from cgankd (not from its REF_PARAMS table, VGG_CFG or any of its modules): each
# reference network is rebuilt here from torch layers, transcribed from the reference constructors, and torch counts
# the parameters.
# - resnet8..resnet110, resnet8x4, resnet32x4: RepDistiller models/resnet.py (github.com/HobbitLong/RepDistiller,
#   commit eedab9d), ResNet(depth, num_filters, 'basicblock').
# - wrn_*: RepDistiller models/wrn.py (eedab9d) WideResNet(depth, num_classes, widen_factor).
# - vgg*: RepDistiller models/vgg.py (eedab9d) vgg8_bn/vgg11_bn/vgg13_bn/vgg16_bn/vgg19_bn with its `cfg` dict copied.
# - mobilenetv2: RepDistiller models/mobilenetv2.py (b13aecc) mobile_half = MobileNetV2(T=6, width_mult=0.5).
# - shufflenetv1 / shufflenetv2: RepDistiller models/ShuffleNetv1.py ShuffleV1 / models/ShuffleNetv2.py ShuffleV2.
# - resnet18/34/50, densenet121/161: torchvision's own implementation (a third, independent code base) with the CIFAR
#   stem of RepDistiller models/resnetv2.py and kuangliu/pytorch-cifar models/densenet.py (the one cGAN-KD copies):
#   a 3x3 stride-1 first conv without bias, and no stem BN (DenseNet) / pooling.
# Published two-decimal totals (M, 100 classes; RepDistiller/CRD-paper figures as quoted in issue 21) are checked too.
import torch, torchvision
from torch import nn

def C(ci, co, k, g=1, bias=False): return nn.Conv2d(ci, co, k, groups=g, bias=bias)
BN, L = nn.BatchNorm2d, nn.Linear
def n_params(mods): return sum(p.numel() for p in nn.ModuleList(mods).parameters())

def rd_resnet(depth, f, K=100):  # RepDistiller models/resnet.py ResNet(depth, num_filters, 'basicblock')
    n, ms, inp = (depth - 2) // 6, [C(3, f[0], 3), BN(f[0])], f[0]
    for planes, stride in zip(f[1:], (1, 2, 2)):
        for i in range(n):
            s = stride if i == 0 else 1
            ms += [C(inp, planes, 3), BN(planes), C(planes, planes, 3), BN(planes)]
            if s != 1 or inp != planes: ms += [C(inp, planes, 1), BN(planes)]
            inp = planes
    return ms + [L(f[3], K)]

def rd_wrn(depth, k, K=100):  # RepDistiller models/wrn.py WideResNet
    n, ch = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
    ms = [C(3, 16, 3)]
    for b in range(3):
        for i in range(n):
            ci, co = (ch[b] if i == 0 else ch[b + 1]), ch[b + 1]
            ms += [BN(ci), C(ci, co, 3), BN(co), C(co, co, 3)] + ([C(ci, co, 1)] if ci != co else [])
    return ms + [BN(ch[3]), L(ch[3], K)]

RD_VGG_CFG = {'A': [[64], [128], [256, 256], [512, 512], [512, 512]],   # RepDistiller models/vgg.py `cfg`, copied
              'B': [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
              'D': [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
              'E': [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
              'S': [[64], [128], [256], [512], [512]]}
def rd_vgg_bn(cfg, K=100):  # VGG(cfg, batch_norm=True): conv3x3 with bias + BN per entry, Linear(512, K)
    ms, ci = [], 3
    for v in sum(RD_VGG_CFG[cfg], []): ms += [C(ci, v, 3, bias=True), BN(v)]; ci = v
    return ms + [L(512, K)]

def rd_mobile_half(K=100):  # mobilenetv2_T_w(6, 0.5): MobileNetV2(T=6, width_mult=0.5)
    T, w = 6, 0.5
    ci = int(32 * w); ms = [C(3, ci, 3), BN(ci)]
    for t, c, n, s in [[1, 16, 1, 1], [T, 24, 2, 1], [T, 32, 3, 2], [T, 64, 4, 2], [T, 96, 3, 1], [T, 160, 3, 2], [T, 320, 1, 1]]:
        co = int(c * w)
        for _ in range(n):
            h = ci * t; ms += [C(ci, h, 1), BN(h), C(h, h, 3, g=h), BN(h), C(h, co, 1), BN(co)]; ci = co
    return ms + [C(ci, 1280, 1), BN(1280), L(1280, K)]

def rd_shufflev1(K=100):  # ShuffleV1: out_planes (240, 480, 960), blocks (4, 8, 4), groups 3
    ms, inp = [C(3, 24, 1), BN(24)], 24
    for outp, nb in zip((240, 480, 960), (4, 8, 4)):
        for i in range(nb):
            o = outp - (inp if i == 0 else 0); mid = int(o / 4); g = 1 if inp == 24 else 3
            ms += [C(inp, mid, 1, g=g), BN(mid), C(mid, mid, 3, g=mid), BN(mid), C(mid, o, 1, g=3), BN(o)]; inp = outp
    return ms + [L(960, K)]

def rd_shufflev2(K=100):  # ShuffleV2: net_size 1, out_channels (116, 232, 464, 1024), blocks (3, 7, 3)
    ms, inp = [C(3, 24, 1), BN(24)], 24
    for oc, nb in zip((116, 232, 464), (3, 7, 3)):
        m = oc // 2
        ms += [C(inp, inp, 3, g=inp), BN(inp), C(inp, m, 1), BN(m), C(inp, m, 1), BN(m), C(m, m, 3, g=m), BN(m), C(m, m, 1), BN(m)]
        for _ in range(nb):
            c = int(oc * 0.5); ms += [C(c, c, 1), BN(c), C(c, c, 3, g=c), BN(c), C(c, c, 1), BN(c)]
        inp = oc
    return ms + [C(464, 1024, 1), BN(1024), L(1024, K)]

def tv_cifar(name, K=100):  # torchvision's ImageNet model with the CIFAR stem: 3x3 stride-1 first conv, no stem pool
    m = getattr(torchvision.models, name)(weights=None, num_classes=K)
    if name.startswith('resnet'): m.conv1, m.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    else:  # kuangliu/pytorch-cifar DenseNet: conv1 3x3 to 2*growth channels, no BN/ReLU/pool after it
        f = m.features; f.conv0 = nn.Conv2d(3, f.conv0.out_channels, 3, 1, 1, bias=False); f.norm0 = f.relu0 = f.pool0 = nn.Identity()
    return [m]

INDEPENDENT = {
    **{f'resnet{d}': (lambda d=d: rd_resnet(d, (16, 16, 32, 64))) for d in (8, 14, 20, 32, 44, 56, 110)},
    'resnet8x4': lambda: rd_resnet(8, (32, 64, 128, 256)), 'resnet32x4': lambda: rd_resnet(32, (32, 64, 128, 256)),
    **{f'wrn_{d}_{k}': (lambda d=d, k=k: rd_wrn(d, k)) for d in (16, 40) for k in (1, 2)},
    'vgg8': lambda: rd_vgg_bn('S'), 'vgg11': lambda: rd_vgg_bn('A'), 'vgg13': lambda: rd_vgg_bn('B'),
    'vgg16': lambda: rd_vgg_bn('D'), 'vgg19': lambda: rd_vgg_bn('E'),
    'mobilenetv2': rd_mobile_half, 'shufflenetv1': rd_shufflev1, 'shufflenetv2': rd_shufflev2,
    **{n: (lambda n=n: tv_cifar(n)) for n in ('resnet18', 'resnet34', 'resnet50', 'densenet121', 'densenet161')}}


PUBLISHED_M = dict(resnet8=0.08, resnet20=0.28, resnet110=1.74, resnet32x4=7.43, wrn_40_2=2.26, vgg13=9.46,
                   mobilenetv2=0.81, shufflenetv1=0.95, shufflenetv2=1.36)

def test_param_counts_match_independent_references():
    from cgankd.models import create_model, count_params
    from cgankd.zoo import zoo_names
    assert set(INDEPENDENT) == set(zoo_names())
    with torch.device('meta'):  # shapes only: no weight initialisation, so the 26 builds take about a second
        ref = {n: n_params(f()) for n, f in INDEPENDENT.items()}
        ours = {n: count_params(create_model(n, num_classes=100, in_channels=3, img_size=32)) for n in INDEPENDENT}
    assert ours == ref  # exact, every architecture, 100 classes, 32x32
    for n, m in PUBLISHED_M.items(): assert round(ref[n] / 1e6, 2) == m, (n, ref[n])
