"""``minimlp-colorize serve``: a local page that colorizes photos in the browser.

``choices`` loads the models the page offers, ``upload`` colorizes one uploaded photo into PNGs, ``held`` keeps the
results in memory for the page to show and download, ``app`` is the Starlette application (the page and its
API), ``server`` binds the address and runs it until Ctrl-C. Starlette and uvicorn come with the ``web`` extra and
are imported only here, so the library and the other commands do not need them. Design notes: docs/serve.md.
"""
