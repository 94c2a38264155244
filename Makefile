# Install layout-trees with the system's Python, without a virtual environment.
#
#   make install   [PREFIX=/usr/local] [DESTDIR=] [PYTHON=/usr/bin/python3]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]
#
# Directories (see scripts/install-system for how each default is found):
# SITEDIR BINDIR MANDIR GENERATORDIR BASHCOMPDIR ZSHCOMPDIR FISHCOMPDIR.
# `make install` needs pip, setuptools (>= 64) and wheel for $(PYTHON), and
# no network: the dependencies are the distribution's packages (README,
# "Install").  Man pages and completions are generated and committed:
# `make manpages` regenerates them (with the development environment).

PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= /usr/bin/python3
BUILDDIR ?= build/make
DIRS = SITEDIR BINDIR MANDIR GENERATORDIR BASHCOMPDIR ZSHCOMPDIR FISHCOMPDIR
DIR_ARGS = $(foreach d,$(DIRS),$(d)=$($(d)))
INSTALL_SYSTEM = $(PYTHON) scripts/install-system

.PHONY: all install uninstall dirs manpages clean

all: $(BUILDDIR)/stage/.done

$(BUILDDIR)/stage/.done: pyproject.toml $(shell find src -name '*.py' -o -name py.typed)
	rm -rf $(BUILDDIR)/stage build/lib build/bdist.* layout_trees.egg-info  # no stale modules
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
		--no-build-isolation --no-index --no-compile --target $(BUILDDIR)/stage .
	touch $@

install: $(BUILDDIR)/stage/.done
	$(INSTALL_SYSTEM) install --stage $(BUILDDIR)/stage --prefix "$(PREFIX)" \
		--destdir "$(DESTDIR)" $(DIR_ARGS)

uninstall:
	$(INSTALL_SYSTEM) uninstall --prefix "$(PREFIX)" --destdir "$(DESTDIR)"

dirs:
	@$(INSTALL_SYSTEM) dirs --prefix "$(PREFIX)" $(DIR_ARGS)

manpages:
	scripts/manpages

clean:
	rm -rf $(BUILDDIR) build/lib build/bdist.* layout_trees.egg-info src/layout_trees.egg-info
