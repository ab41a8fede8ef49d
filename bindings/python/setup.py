"""Build glue for the silin wheel: everything else is in pyproject.toml.

The package holds a native library (libsilin_ffi.so / .dylib) that the
generated module loads with ctypes, so the wheel is tagged for this platform.
It does not use the Python C API, so one wheel serves every Python 3 on that
platform: the tag is py3-none-<platform>.
"""

from setuptools import Distribution, setup

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # older setuptools: the `wheel` package's
    from wheel.bdist_wheel import bdist_wheel


class NativeDistribution(Distribution):
    """Holds a native library: files go to platlib, at the wheel's root."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=NativeDistribution, cmdclass={"bdist_wheel": PlatformWheel})
