# Sourced by the shell scripts: where the project's Python 3.14 environment lives and how to
# run a command in it. Not a script of its own.
#
# The environment is .venv at the repository root. On a machine with Python 3.14 (on PATH,
# from pyenv or from uv) it is an ordinary virtual environment. Where no Python 3.14 can be
# had, scripts/setup builds a minimal Debian root with Debian's python3.14 in a cache outside
# the repository (debootstrap), and .venv is created inside that root: its file
# .venv/.iot_zinx-root names the root, and every command runs chrooted into it, with the
# repository's folder (so the repository and its siblings, ../shared among them) and the
# host's /tmp bind-mounted at the same paths. The mounts live in a private mount namespace
# (unshare), so they vanish with the command and never pile up on the host.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# IOT_ZINX_VENV names another environment in the same place (scripts/test_newest_ha's
# .venv-newest, with the newest Home Assistant release); whoever sets it manages it.
VENV="${IOT_ZINX_VENV:-$REPO/.venv}"
ROOT_MARKER="$VENV/.iot_zinx-root"
REQUIREMENTS_STAMP="$VENV/.iot_zinx-requirements"
# Where the Debian root is cached (shared by every clone on the machine).
IOT_ZINX_CACHE="${IOT_ZINX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iot_zinx}"
# What the Debian root holds: Python 3.14 with what pip needs to build the few packages
# without a wheel for it (gcc, g++: pymicro-vad, pyspeex-noise), and libturbojpeg0 for the
# camera component the demo's Home Assistant imports. The root's folder is named after this
# list, so changing it builds a new root instead of reusing one that lacks a package.
DEBIAN_ROOT_PACKAGES="python3.14,python3.14-venv,python3.14-dev,ca-certificates,gcc,g++,libc6-dev,libturbojpeg0"
DEBIAN_ROOT="$IOT_ZINX_CACHE/debian-sid-python3.14-$(printf %s "$DEBIAN_ROOT_PACKAGES" | sha256sum | cut -c1-8)"

# What .venv must have been built from: the pins. A change of pins re-runs scripts/setup.
requirements_hash() {
  cat "$REPO/requirements_test.txt" "$REPO/requirements_lock.txt" | sha256sum | cut -d' ' -f1
}

# The Debian root .venv lives in, or nothing for an ordinary virtual environment.
env_root() {
  [ -f "$ROOT_MARKER" ] && cat "$ROOT_MARKER"
  return 0
}

# Run scripts/setup when .venv is missing or was built from other pins. Its output goes to
# stderr, so that `scripts/python -c ...` prints only what the command prints.
ensure_env() {
  [ -z "${IOT_ZINX_VENV:-}" ] || return 0
  if [ ! -f "$REQUIREMENTS_STAMP" ] || [ "$(cat "$REQUIREMENTS_STAMP")" != "$(requirements_hash)" ]; then
    "$REPO/scripts/setup" >&2
  fi
}

# env_exec_in ROOT COMMAND [ARGS...]: run COMMAND in the Debian root ROOT (or on the host when
# ROOT is empty), with .venv's bin first on PATH, in the current directory when the root has
# it (the repository, its siblings and /tmp do), else in the repository. Replaces this shell:
# the command keeps its process id, so pid files and signals reach it.
env_exec_in() {
  local root=$1
  shift
  export PATH="$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  export VIRTUAL_ENV="$VENV"
  # Already inside the root (a script started by a script, e.g. the browser test starting
  # scripts/develop): run the command as it is; the mounts are there.
  if [ -z "$root" ] || [ "${IOT_ZINX_INSIDE_ROOT:-}" = "$root" ]; then
    exec "$@"
  fi
  export IOT_ZINX_INSIDE_ROOT="$root"
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts: .venv lives in the Debian root $root, which needs root to enter;" \
      "install Python 3.14 (python3.14, pyenv or uv) and run scripts/setup again" >&2
    exit 1
  fi
  # The host's pip settings name host paths (local wheel folders) that the root lacks.
  unset PIP_FIND_LINKS PIP_CONFIG_FILE PIP_CONSTRAINT
  local shared_dir
  shared_dir="$(dirname "$REPO")"
  [ "$shared_dir" != "/" ] || shared_dir="$REPO"
  exec unshare --mount --propagation private -- /bin/sh -c '
    set -e
    root=$1 shared_dir=$2 repo=$3 cwd=$4
    shift 4
    mount --rbind /proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount --rbind /tmp "$root/tmp"
    mkdir -p "$root$shared_dir"
    mount --rbind "$shared_dir" "$root$shared_dir"
    exec chroot "$root" /bin/sh -c "cd \"\$1\" 2>/dev/null || cd \"\$2\"; shift 2; exec \"\$@\"" \
      sh "$cwd" "$repo" "$@"
  ' sh "$root" "$shared_dir" "$REPO" "$PWD" "$@"
}

# env_exec COMMAND [ARGS...]: run COMMAND in the project's environment (see above).
env_exec() {
  env_exec_in "$(env_root)" "$@"
}
