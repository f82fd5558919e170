from setuptools import find_packages, setup

# Ray for `--executor ray` (minimlp.colorize.ray_executor); pinned: the executor uses its task, actor and
# scheduling APIs as they are in this release (2.60.0 checked on CPython 3.11, x86-64 Linux)
RAY = "ray==2.60.0"
# `minimlp-colorize serve` (minimlp.colorize.web): Starlette and uvicorn, 5 MB in all (Gradio: 230 MB; docs/serve.md)
WEB = ["starlette>=0.37", "uvicorn>=0.29"]

setup(
    name="minimlp",
    version="0.1.0",
    description="A small neural-network library on NumPy/CuPy with hand-written backward passes, "
                "checked against PyTorch, and a grayscale-to-colour image colorizer built with it.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["minimlp", "minimlp.*"]),
    include_package_data=True,
    package_data={"minimlp": ["data/default/*", "colorize/pretrained/*", "colorize/web/static/*"]},
    install_requires=["numpy>=1.24", "numba>=0.60", "threadpoolctl>=3.1", "matplotlib>=3.6", "Pillow>=9.0",
                      "tqdm>=4.60"],
    extras_require={
        "gpu": ["cupy-cuda12x>=13"],
        "cluster": [RAY],
        "web": WEB,
        # playwright drives the system's Chromium in tests/test_serve_browser.py (.ci/run installs it)
        "test": ["pytest>=7", "torch==2.13.0", RAY, *WEB, "playwright>=1.40"],
    },
    entry_points={"console_scripts": ["minimlp-colorize=minimlp.colorize.cli:main"]},
)
