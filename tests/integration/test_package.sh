#!/bin/bash
# The Debian package and the unit file:
#  - systemd-analyze verify passes on packaging/ringtapd.service (pointed at
#    the built daemon) and on the unit inside the package (pointed at the
#    unpacked daemon), whose man pages are found and render without warning;
#  - make deb builds the package from this tree with no lintian error;
#  - its file list is exactly what a user expects (daemon, CLI, unit,
#    tmpfiles, conffile, three man pages, copyright) and nothing else
#    (no test tools); /etc/ringtap/ringtap.conf is a conffile; the unit is
#    installed but not enabled by the maintainer scripts, and stopped on
#    removal.
. "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
for t in dpkg-buildpackage dh lintian systemd-analyze; do
	command -v $t >/dev/null || skip "no $t (scripts/install-deps.sh installs it)"
done

# 1. the unit from the tree
sed "s|/usr/sbin/ringtapd|$RT_BUILD/ringtapd|" "$repo/packaging/ringtapd.service" >"$TMP/ringtapd.service"
systemd-analyze verify --man=no "$TMP/ringtapd.service" >"$TMP/verify" 2>&1 || { cat "$TMP/verify"; fail "systemd-analyze verify on the tree's unit"; }
[ -s "$TMP/verify" ] && { cat "$TMP/verify"; fail "systemd-analyze verify printed warnings"; }

# 2. the package
make -s -C "$repo" deb B="$TMP/b" >"$TMP/deb.log" 2>&1 || { tail -40 "$TMP/deb.log"; fail "make deb failed"; }
deb=$(ls "$TMP"/b/deb/ringtap_*.deb 2>/dev/null)
[ -f "$deb" ] || fail "make deb made no .deb"
grep -q '^E: ' "$TMP/deb.log" && { grep '^E: ' "$TMP/deb.log"; fail "lintian errors"; }
log "lintian: $(grep -c '^W: ' "$TMP/deb.log") warnings, 0 errors"

dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort >"$TMP/files"
unitdir=$(grep -o '^/.*/systemd/system/ringtapd.service$' "$TMP/files" | xargs -r dirname)
[ -n "$unitdir" ] || { cat "$TMP/files"; fail "no ringtapd.service in the package"; }
tmpf=$(grep -o '^/.*/tmpfiles.d/ringtap.conf$' "$TMP/files")
[ -n "$tmpf" ] || { cat "$TMP/files"; fail "no tmpfiles.d/ringtap.conf in the package"; }
sort >"$TMP/expected" <<EOT
/etc/ringtap/ringtap.conf
/usr/bin/ringtap
/usr/sbin/ringtapd
$unitdir/ringtapd.service
$tmpf
/usr/share/doc/ringtap/changelog.gz
/usr/share/doc/ringtap/copyright
/usr/share/man/man1/ringtap.1.gz
/usr/share/man/man5/ringtap.conf.5.gz
/usr/share/man/man8/ringtapd.8.gz
EOT
diff -u "$TMP/expected" "$TMP/files" || fail "the package's file list differs from the expected one"

dpkg-deb -e "$deb" "$TMP/control"
[ "$(cat "$TMP/control/conffiles")" = /etc/ringtap/ringtap.conf ] || { cat "$TMP/control/conffiles"; fail "conffiles"; }
grep -q '^Depends:.*libtracefs1' "$TMP/control/control" || fail "Depends lacks libtracefs1: $(grep ^Depends "$TMP/control/control")"
grep -q 'deb-systemd-helper' "$TMP/control/postinst" || fail "postinst does not register the unit"
# not enabled at install: the only enable is the one that keeps an
# admin's earlier choice (was-enabled)
[ "$(grep -c 'deb-systemd-helper enable' "$TMP/control/postinst")" = 1 ] &&
	grep -B3 'deb-systemd-helper enable' "$TMP/control/postinst" | grep -q 'was-enabled' ||
	fail "postinst enables the service at install; it should only install it"
grep -q "deb-systemd-invoke stop 'ringtapd.service'" "$TMP/control/prerm" || fail "prerm does not stop the service on removal"
grep -q 'systemd-tmpfiles' "$TMP/control/postinst" || fail "postinst does not apply the tmpfiles"

# 3. the packaged unit, verified against the unpacked package
dpkg-deb -x "$deb" "$TMP/root"
cmp -s "$repo/packaging/ringtapd.service" "$TMP/root$unitdir/ringtapd.service" || fail "the packaged unit differs from packaging/ringtapd.service"
sed "s|/usr/sbin/ringtapd|$TMP/root/usr/sbin/ringtapd|" "$TMP/root$unitdir/ringtapd.service" >"$TMP/pkg-ringtapd.service"
systemd-analyze verify --man=no "$TMP/pkg-ringtapd.service" >"$TMP/verify2" 2>&1 ||
	{ cat "$TMP/verify2"; fail "systemd-analyze verify on the packaged unit"; }
"$TMP/root/usr/sbin/ringtapd" --help >/dev/null || fail "the packaged ringtapd does not run"
"$TMP/root/usr/bin/ringtap" --help >/dev/null || fail "the packaged ringtap does not run"
MANPATH="$TMP/root/usr/share/man" man -w ringtapd.8 ringtap.1 ringtap.conf.5 >/dev/null || fail "man pages not found in the package"
for m in "$TMP"/root/usr/share/man/man*/*.gz; do
	w=$(zcat "$m" | groff -ww -z -man 2>&1)
	[ -z "$w" ] || { echo "$w"; fail "groff warnings in $(basename "$m")"; }
done
echo "package: $(basename "$deb"), $(wc -l <"$TMP/files") files, conffile, unit verified, lintian clean of errors"
