#!/usr/bin/env bash
# The test command: installs what the tests need, then runs the format
# check, clippy with -D warnings, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v ps >/dev/null 2>&1 || need_apt+=(procps)
command -v sudo >/dev/null 2>&1 || need_apt+=(sudo)
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
# The web tests drive a real headless browser through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing: ${need_apt[*]}"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --all-targets
