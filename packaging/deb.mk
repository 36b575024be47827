# make deb: the Debian package, built from a copy of this tree (the working
# tree as it is, not the last commit) under build/deb, then checked with
# lintian; lintian's errors fail the build.  Included by the Makefile.
DEB_DIR := $(B)/deb
DEB_SRC := $(DEB_DIR)/ringtap-$(VERSION)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE := $(DEB_DIR)/ringtap_$(VERSION)_$(DEB_ARCH).deb

.PHONY: deb
deb:
	$(Q)command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null || \
		{ echo "make deb needs dpkg-dev, debhelper and lintian: scripts/install-deps.sh" >&2; exit 1; }
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	$(Q)tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C $(DEB_SRC)
	$(Q)cp -r packaging/debian $(DEB_SRC)/debian
	$(Q)cp packaging/ringtapd.service $(DEB_SRC)/debian/ringtap.ringtapd.service
	$(Q)cp packaging/ringtap.tmpfiles $(DEB_SRC)/debian/ringtap.tmpfiles
	$(call msg,DEB,$(DEB_FILE))
	@# without this make's variables (B=...) would reach the package's own
	@# make through MAKEFLAGS, and its "make clean" would remove $(B)
	$(Q)cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		dpkg-buildpackage -us -uc -b >$(abspath $(DEB_DIR))/build.log 2>&1 || \
		{ tail -40 $(abspath $(DEB_DIR))/build.log >&2; \
		  echo "dpkg-buildpackage failed: $(DEB_DIR)/build.log" >&2; exit 1; }
	$(call msg,LINTIAN,$(DEB_FILE))
	$(Q)lintian --fail-on error --info $(DEB_FILE)
