"""WSGI entry point for gunicorn."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their modules: about 140,000 objects) lives as long
# as the process. Left to the collector, each full collection walks all of it: about 90 ms,
# landing on whichever request happens to trigger it. Frozen, a collection walks only what
# requests made. With gunicorn's --preload this runs in the master, before the workers fork.
gc.collect()
gc.freeze()
