#!/bin/sh
# The app's install, as the image's build stage runs it: every wheel the app needs (the
# app's own built from SOURCE), then a virtualenv at VENV holding those and nothing else
# (no dev or test extra). tests/integration/deploy/test_image.py runs the same script.
#   image/install-venv.sh SOURCE VENV WHEELS
set -eu
source_dir=$1
venv=$2
wheels=$3
python -m pip wheel --quiet --wheel-dir "$wheels" "$source_dir"
python -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-index --find-links "$wheels" tickler
# bytecode now, as the root filesystem is read-only at run time
"$venv/bin/python" -m compileall -q "$venv/lib"
