"""kombu's filesystem transport, the embedded default's broker, with every
message written whole before a consumer can see it.

kombu's own ``Channel._put`` creates the message file, then writes it. A
worker that lists the folder in between moves the empty file away, reads
it, deletes it and fails to decode it: its consumer stops, and the message,
written after into the deleted file, is lost (kombu issue #1551 reports the
decode error; a producer and a consumer thread hit it about once in 3,000
messages here). This channel writes the message under a name no consumer
takes (a leading dot), then renames it into place, which is atomic within
a folder.

Both sides use it: the API (``app/broker.py``) and the workers
(``worker/celery_app.py``) set Celery's ``broker_transport`` to
``TRANSPORT`` whenever the broker URL is a ``filesystem://`` one.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

TRANSPORT = "filesystem_broker:Transport"


def uses_filesystem_transport(broker_url):
    return (broker_url or "").startswith("filesystem://")


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` on ``queue``: named as kombu names it (the time
        first, so that consumers take messages in order), visible only whole."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as error:
            raise ChannelError(f"Cannot add file {final!r} to directory") from error


class Transport(filesystem.Transport):
    Channel = Channel
