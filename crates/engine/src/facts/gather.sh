# dtrplay's fact gathering: one POSIX shell script, one round trip.
#
# It prints raw sections for `facts::parse` to read on the control machine:
# a header line is the byte 0x1e followed by the section's name, and every
# line up to the next header is that section's content. Files are read with
# the shell's own `read`, so no program starts for them; the only programs
# are `date`, `ip` (network) and one `stat -f` for every mount (hardware).
# The first line of the request sets `want`, the sections to gather.
R=$(printf '\036')
h() { printf '%s%s\n' "$R" "$1"; }
f() {
  [ -r "$1" ] || return 1
  while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < "$1"
}
has() { case " $want " in *" $1 "*) return 0 ;; esac; return 1; }

if has platform; then
  h kernel
  f /proc/sys/kernel/ostype; f /proc/sys/kernel/osrelease
  f /proc/sys/kernel/version; f /proc/sys/kernel/hostname
  h arch
  f /proc/sys/kernel/arch || uname -m
fi
if has distribution; then
  h os-release; f /etc/os-release || f /usr/lib/os-release
  h debian_version; f /etc/debian_version
  h redhat-release; f /etc/redhat-release
  h alpine-release; f /etc/alpine-release
fi
if has platform; then
  h machine-id; f /etc/machine-id || f /var/lib/dbus/machine-id
  h hosts; f /etc/hosts
fi
if has user || has hardware; then
  h status
  while IFS= read -r l; do
    case $l in Uid:* | Gid:* | Cpus_allowed_list:*) printf '%s\n' "$l" ;; esac
  done < /proc/self/status
fi
if has user; then
  h passwd
  uid=
  while read -r k a rest; do [ "$k" = Uid: ] && uid=$a; done < /proc/self/status
  while IFS=: read -r n p u g rest; do
    if [ "$u" = "$uid" ] || [ "$n" = "${LOGNAME:-${USER:-}}" ]; then
      printf '%s:%s:%s:%s:%s\n' "$n" "$p" "$u" "$g" "$rest"
    fi
  done < /etc/passwd
fi
if has env; then
  h env; export -p
fi
if has date_time; then
  h date; date '+%s %N %Y %m %d %H %M %S %A %w %W %Z %z'
fi
if has dns; then
  h resolv; f /etc/resolv.conf
fi
if has service_mgr || has pkg_mgr; then
  h proc1; f /proc/1/comm
  h paths
  for p in /usr/bin/rpm-ostree /usr/bin/yum /usr/bin/dnf /usr/bin/apt-get \
    /usr/bin/zypper /usr/sbin/urpmi /usr/bin/pacman /bin/opkg /sbin/apk \
    /usr/bin/emerge /usr/bin/xbps-install /usr/bin/microdnf /usr/bin/rpm \
    /run/ostree-booted /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/ \
    /etc/init/ /sbin/openrc /etc/init.d/; do
    [ -e "$p" ] && printf '%s\n' "$p"
  done
  h bins
  for b in systemctl initctl; do
    command -v "$b" >/dev/null 2>&1 && printf '%s\n' "$b"
  done
fi
if has python; then
  h python
  for b in python3.14 python3.13 python3.12 python3.11 python3.10 python3.9 \
    python3.8 /usr/bin/python3 /usr/libexec/platform-python; do
    command -v "$b" 2>/dev/null
  done
fi
if has fips; then
  h fips; f /proc/sys/crypto/fips_enabled
fi
if has apparmor; then
  h apparmor; [ -d /sys/kernel/security/apparmor ] && printf 'enabled\n'
fi
if has cmdline; then
  h cmdline; f /proc/cmdline
fi
if has ssh_pub_keys; then
  for k in dsa rsa ecdsa ed25519; do
    for d in /etc/ssh /etc/openssh /etc; do
      if [ -r "$d/ssh_host_${k}_key.pub" ]; then
        h "sshkey $k"; f "$d/ssh_host_${k}_key.pub"; break
      fi
    done
  done
fi
if has hardware; then
  h meminfo; f /proc/meminfo
  h cpuinfo; f /proc/cpuinfo
  h uptime; f /proc/uptime
  h loadavg; f /proc/loadavg
  h mounts; f /proc/mounts
  h mountinfo; f /proc/self/mountinfo
  h statfs
  set --
  while read -r dev mnt rest; do
    case $dev in /*) set -- "$@" "$mnt" ;; esac
  done < /proc/mounts
  [ $# -gt 0 ] && stat -f -c '%n|%S|%s|%b|%a|%c|%d' -- "$@" 2>/dev/null
fi
if has network; then
  h route; f /proc/net/route
  h route6; f /proc/net/ipv6_route
  h inet6; f /proc/net/if_inet6
  h inet
  command -v ip >/dev/null 2>&1 && ip -o -4 addr show 2>/dev/null
  for d in /sys/class/net/*; do
    [ -d "$d" ] || continue
    h "iface ${d##*/}"
    for a in address mtu flags type operstate; do
      IFS= read -r v 2>/dev/null < "$d/$a" && printf '%s=%s\n' "$a" "$v"
    done
    [ -d "$d/bridge" ] && printf 'bridge=1\n'
    [ -d "$d/bonding" ] && printf 'bond=1\n'
  done
fi
exit 0
