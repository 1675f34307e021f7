import os

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from channels_app.providers.twilio import compute_signature, url_variants

TOKEN = os.environ.get("BENCH_TWILIO_TOKEN", "")
PUBLIC = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@csrf_exempt
def receive(request, token):
    params = {k: request.POST.getlist(k) for k in request.POST}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = PUBLIC + request.get_full_path()
    if not any(compute_signature(TOKEN, candidate, params) == signature for candidate in url_variants(url)):
        return HttpResponse(status=403)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor_event (sid, body) VALUES (%s, %s) ON CONFLICT (sid) DO NOTHING",
                       [params["MessageSid"][0], request.body.decode()])
    return HttpResponse(TWIML, content_type="text/xml")


urlpatterns = [path("webhooks/twilio/<str:token>/inbound/", receive)]
