"""Rendering: targets, templates, quoting, Kubernetes, multi-node, manifest, the safe writer.

This package is also the public API's `render` (`llmgen.render(spec)` -> {path: text}): once
any module of it is imported, Python binds the name `llmgen.render` to the package, so the
package itself is callable and renders (llmgen.render.files.render_files).
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, spec: object) -> dict[str, str]:
        from llmgen.render.files import render_files

        return render_files(spec)  # type: ignore[arg-type]  # render_files checks the type


sys.modules[__name__].__class__ = _CallablePackage
