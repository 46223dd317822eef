#!/bin/sh
# The image's entrypoint: the first argument names the component, the rest are its flags.
#   operator ...      python -m controller ...
#   router ...        python -m controller.router ...
#   modelserver ...   python -m controller.modelserver ...
#   anything else     run as given (e.g. `python -m controller --help`, `sh`)
# exec: the component becomes PID 1 and receives SIGTERM itself.
set -eu
if [ "$#" -eq 0 ]; then
  set -- operator
fi
component="$1"
case "$component" in
  operator) shift; exec python -m controller "$@" ;;
  router) shift; exec python -m controller.router "$@" ;;
  modelserver) shift; exec python -m controller.modelserver "$@" ;;
  -*)
    echo "modelrollout-entrypoint: name the component first (operator, router or modelserver)," \
         "then its flags; got '$component'" >&2
    exit 64 ;;
esac
exec "$@"
