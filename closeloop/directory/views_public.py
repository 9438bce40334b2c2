"""Public pages: no login. The signed token in the URL is the only authority."""

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from closeloop.directory import actions


@csrf_exempt  # one-click unsubscribe (RFC 8058) POSTs without a CSRF token; the URL is signed
@require_http_methods(["GET", "POST"])
def opt_out(request, token: str):
    """GET asks for confirmation (mail scanners follow links); POST unsubscribes."""
    found = actions.read_opt_out_token(token)
    if found is None:
        return render(request, "directory/opt_out.html", {"state": "invalid"}, status=404)
    contact, mailing_list = found
    if request.method == "POST":
        actions.unsubscribe_contact(contact, mailing_list=mailing_list)
        state = "done"
    else:
        state = "confirm"
    return render(
        request,
        "directory/opt_out.html",
        {"state": state, "mailing_list": mailing_list, "token": token},
    )
