"""What the console vendors from package registries, pinned by version and checksum.

Swagger UI comes from the npm package ``swagger-ui-dist`` (Apache-2.0), unpacked into
``static/vendor/swagger-ui/`` and committed; nothing is fetched at run time. ``make test``
checks that the committed files still have these SHA-256 digests (``tests/console``), so a
changed or truncated asset fails CI. To upgrade, follow docs/console.md ("Vendored assets").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class VendoredPackage:
    """One registry package copied into ``static/vendor/<folder>``."""

    registry: str
    name: str
    version: str
    #: the registry's own checksum of the package tarball (npm ``dist.shasum``, SHA-1)
    tarball_sha1: str
    folder: str
    #: file name -> SHA-256 of the committed copy (identical to the file in the tarball)
    files: tuple[tuple[str, str], ...]

    @property
    def directory(self) -> Path:
        """Where the files live in the installed package."""
        return STATIC_DIR / "vendor" / self.folder


SWAGGER_UI = VendoredPackage(
    registry="npm",
    name="swagger-ui-dist",
    version="5.35.0",
    tarball_sha1="5c3b487ae5a2121b2c668d6f92b550707521876a",
    folder="swagger-ui",
    files=(
        (
            "swagger-ui-bundle.js",
            "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
        ),
        ("swagger-ui.css", "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d"),
        ("favicon-32x32.png", "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837"),
        ("LICENSE", "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"),
        ("NOTICE", "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2"),
        (
            "swagger-ui-bundle.js.LICENSE.txt",
            "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
        ),
    ),
)

VENDORED: tuple[VendoredPackage, ...] = (SWAGGER_UI,)
