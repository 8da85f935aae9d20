"""A Django origin for tests/origins: Django's own RemoteUserMiddleware and RemoteUserBackend
(the model of this project) behind the worker, under uvicorn (ASGI). Every route answers
JSON saying which route Django chose, who Django thinks the user is, and what it received.

Run: ORIGIN_STATE_DIR=<dir> uvicorn --app-dir tests/origins django_app:application
"""

import json
import os

import django
from django.conf import settings

STATE = os.environ["ORIGIN_STATE_DIR"]

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="tests-origins-django-not-a-secret",
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
    ],
    MIDDLEWARE=[
        f"{__name__}.origin_header",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        f"{__name__}.XRemoteUserMiddleware",
    ],
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.RemoteUserBackend"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(STATE, "db.sqlite3"),
        }
    },
    USE_TZ=True,
)
django.setup()

from django.contrib.auth.middleware import RemoteUserMiddleware  # noqa: E402
from django.utils.decorators import async_only_middleware  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import re_path  # noqa: E402
from django.utils.functional import SimpleLazyObject  # noqa: E402


@async_only_middleware
def origin_header(get_response):
    """`X-Origin: django` on every answer, a 404 or 500 of Django's own too, so the test can
    tell Django's answers from the worker's."""

    async def middleware(request):
        response = await get_response(request)
        response["X-Origin"] = "django"
        return response

    return middleware


class XRemoteUserMiddleware(RemoteUserMiddleware):
    """The header the worker sets, `X-Remote-User`. The async path (uvicorn) reads
    `request.META["HTTP_" + header]`: Django's ASGI handler names `X-Remote-User`
    `HTTP_X_REMOTE_USER` (and drops any header spelled with `_`)."""

    header = "X_REMOTE_USER"


def report(route):
    async def view(request, rest=""):
        # RemoteUserMiddleware sets `request.user` to the user it logged in; otherwise it is
        # still AuthenticationMiddleware's lazy object, read the async way.
        user = request.user
        if isinstance(user, SimpleLazyObject):
            user = await request.auser()
        meta = request.META
        raw = request.scope.get("raw_path", b"").decode("latin-1")
        query = request.scope.get("query_string", b"").decode("latin-1")
        return JsonResponse(
            {
                "origin": "django",
                "route": route,
                "user": user.get_username() if user.is_authenticated else "",
                "raw": raw + ("?" + query if query else ""),
                "cookie": meta.get("HTTP_COOKIE", ""),
                "authorization": meta.get("HTTP_AUTHORIZATION", ""),
                "proxy_authorization": meta.get("HTTP_PROXY_AUTHORIZATION", ""),
                "method_override": meta.get("HTTP_X_HTTP_METHOD_OVERRIDE", "")
                + meta.get("HTTP_X_HTTP_METHOD", "")
                + meta.get("HTTP_X_METHOD_OVERRIDE", ""),
                "body_length": len(request.body),
                "method": request.method,
            }
        )

    return view


# `(?s)`: a decoded `%0A` is a character like any other, so every path has a route here and
# a Django 404 (which the test could not tell from the worker's) never answers.
urlpatterns = [
    re_path(r"(?s)^admin/(?P<rest>.*)$", report("admin")),
    re_path(r"(?s)^static/(?P<rest>.*)$", report("static")),
    re_path(r"(?s)^(?P<rest>.*)$", report("other")),
]

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
