"""Avatars (actor DNA): photos become faces the renderer can animate.

:mod:`tasks.avatar.photo` reads an uploaded photo safely (format and size checked before
decoding, EXIF orientation honoured, RGB, bounded working size);
:mod:`tasks.avatar.reconstruct` finds the face in it and measures its 478 MediaPipe
landmarks, head pose, eye and mouth opening.
"""
