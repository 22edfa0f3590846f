"""Terminal output: sanitising of document text before it reaches a terminal.

Document text comes from files we did not write. A PDF or web page can carry
escape sequences that move the cursor, retitle the window, hide text or, via
bidi overrides, make printed text read differently from what is stored. Every
piece of document text goes through `sanitize_text` before it is printed.
"""
from __future__ import annotations

import re

# ESC-introduced sequences (ECMA-48): CSI "ESC [ params final", OSC/DCS/SOS/PM/APC
# strings terminated by BEL or ST, and two-byte escapes. The 8-bit C1 forms
# (\x9b CSI, \x9d OSC, ...) are matched too.
_ANSI_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                          # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC/DCS/SOS/PM/APC string
    | \x1b[ -/]*[0-~]                                          # other escapes (ESC c, ESC ( B, ...)
    """,
    re.VERBOSE | re.DOTALL,
)

# C0 controls except \t and \n, DEL, C1 controls, and Unicode bidi controls
# (embeddings, overrides, isolates, marks) that can reorder what the reader sees.
_CONTROL_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]"
)


def sanitize_text(text: str) -> str:
    """Return `text` without terminal escape sequences, control characters or bidi overrides.

    Tabs and newlines are kept; a lone ESC or stray control byte is removed.
    """
    without_sequences = _ANSI_SEQUENCE.sub("", text)
    return _CONTROL_CHARS.sub("", without_sequences)
