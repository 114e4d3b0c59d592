# shellcheck shell=bash
# Sourced, not run: `apt_install WHO PACKAGE...` installs Debian packages (as root, or through sudo), saying so as
# WHO; with no package it does nothing. The scripts collect what is missing and call it once.
apt_install() {
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  echo "$who: installing $*"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
