"""Instructor and build tools for the course kit, run from a checkout; never installed with it.

pyproject.toml installs only ``course_lib*``: a learner's environment (``pip install``, Colab) gets what the labs
import at run time, not these. Tools import course_lib (its public names only); course_lib never imports tools.

- ``python -m tools.copies``: student and instructor copies of the labs (``make copies``; ``make lab`` and
  ``make test`` write the student copies with ``--workspace``).
- ``python -m tools.slides``: one offline reveal.js deck per lab (``make slides``), ``--check`` in headless Chromium.
- ``python -m tools.publish``: Colab badges and install lines for a fork (``badges --repo``), a lab's first cell
  (``setup-cell``), the course data archives for a release (``pack-data``).
- ``python -m tools.book``: the executed labs as a static site in ``build/book/`` (``make book``).
- ``python -m tools.lab_server``: ``make lab``: the student copies in ``my-labs/``, then JupyterLab on lab 00.
"""
