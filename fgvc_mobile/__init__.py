"""fgvc-mobile: fine-grained visual classification that runs well on phones.

Pipeline (arrows point down; lower layers never import upper ones):
data -> rmg -> models -> methods -> train ; export/ and benchmarks/ import fgvc_mobile.
"""

__version__ = "0.1.0"
