from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect


def index(request):
    return redirect("admin:index")


def healthz(request):
    """For load balancers and systemd: the process answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
