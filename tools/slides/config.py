"""Where the slides' inputs and outputs live, the vendored browser files a deck loads, and the error the tools raise."""
from __future__ import annotations

from course_lib import env
from course_lib.errors import CourseLibError

SLIDES_DIR = env.PROJECT_ROOT / "slides"
TEMPLATE_DIR = SLIDES_DIR / "templates"
VENDOR_DIR = SLIDES_DIR / "vendor"
FIGURES_DIR = env.output_dir() / "figures"    # where course_lib.notebooks.figure_path saves them
OUT_DIR = env.output_dir() / "slides"
LECTURES_DIR = SLIDES_DIR / "lectures"        # hand-written lecture decks (Markdown), one per week
LECTURES_OUT = "lectures"                     # built into <out>/lectures/ beside the lab decks
RESULTS_DIR = env.output_dir() / "results"    # the labs' claims ledgers (<lab>.claims.json) after a run
CLAIMS_DOC = env.PROJECT_ROOT / "docs" / "CLAIMS.md"  # the committed page generated from those ledgers

# Paths of the vendored files, relative to a deck (install_vendor copies slides/vendor/ beside the decks).
REVEAL_JS = "vendor/reveal.js/dist/reveal.js"
REVEAL_CSS = "vendor/reveal.js/dist/reveal.css"
REVEAL_NOTES = "vendor/reveal.js/plugin/notes/notes.js"
MATHJAX_JS = "vendor/mathjax/es5/tex-svg-full.js"


class SlidesError(CourseLibError):
    """A deck that cannot be built or checked as asked; the message says what to do."""
