"""A QR code drawn as a texture (pay links for the patient's phone)."""

from __future__ import annotations

import qrcode  # type: ignore[import-untyped]
from kivy.graphics.texture import Texture
from kivy.properties import StringProperty
from kivy.uix.image import Image


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR modules of data (medium error correction) with a 4-module quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


class QrImage(Image):
    """Shows ``data`` as a black-on-white QR code, scaled without blurring."""

    data = StringProperty("")
    tag = StringProperty("")

    def on_data(self, _instance: object, data: str) -> None:
        if not data:
            self.texture = None
            return
        matrix = qr_matrix(data)
        size = len(matrix)
        # Kivy textures start at the bottom row.
        # RGBA keeps every row 4-byte aligned whatever the module count.
        pixels = b"".join(
            b"\x00\x00\x00\xff" if dark else b"\xff\xff\xff\xff"
            for row in reversed(matrix)
            for dark in row
        )
        texture = Texture.create(size=(size, size), colorfmt="rgba")
        texture.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte")
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        self.texture = texture
