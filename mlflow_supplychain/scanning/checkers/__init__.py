"""Format checkers, one module per format. Each imports only the shared types in
:mod:`..inspection` (and helpers of its own kind); :mod:`..registry` says which checker
handles which format, and the inspector is handed that table."""
