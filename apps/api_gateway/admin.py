from django import forms
from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from apps.api_gateway.models import ApiKey
from apps.api_gateway.scopes import Scope

admin.site.unregister(APIKey)


class ApiKeyForm(forms.ModelForm):
    """Scopes as checkboxes; none ticked on a key made before scopes keeps its old rights (null)."""

    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ("name", "expiry_date", "revoked", "scopes", "can_write")

    def clean_scopes(self) -> list[str] | None:
        chosen = list(self.cleaned_data.get("scopes") or [])
        if not chosen and self.instance.pk and self.instance.scopes is None:
            return None
        return sorted(chosen)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "scopes", "can_write")  # type: ignore[assignment]
    form = ApiKeyForm
