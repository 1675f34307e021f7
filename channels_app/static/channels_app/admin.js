"use strict";
// Copy buttons next to read-only values: <button data-copy-target="input-id">Copy</button>.
{
    const flash = (button, text) => {
        const original = button.dataset.label || button.textContent;
        button.dataset.label = original;
        button.textContent = text;
        window.setTimeout(() => { button.textContent = original; }, 1500);
    };

    const copyWithSelection = (input) => {
        input.focus();
        input.select();
        return document.execCommand("copy");
    };

    document.addEventListener("click", (event) => {
        const button = event.target.closest("[data-copy-target]");
        if (!button) {
            return;
        }
        event.preventDefault();
        const input = document.getElementById(button.dataset.copyTarget);
        if (!input) {
            return;
        }
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(input.value).then(
                () => flash(button, "Copied"),
                () => flash(button, copyWithSelection(input) ? "Copied" : "Press Ctrl+C"),
            );
        } else {
            flash(button, copyWithSelection(input) ? "Copied" : "Press Ctrl+C");
        }
    });
}

// The add form shows only the chosen provider's credential inputs (without JavaScript every one shows, each
// saying which provider uses it).
document.addEventListener("DOMContentLoaded", () => {
    const provider = document.querySelector("select[name=provider][data-credential-fields]");
    if (!provider) {
        return;
    }
    const fields = JSON.parse(provider.dataset.credentialFields);
    const all = [...new Set(Object.values(fields).flat())];
    const show = () => {
        const chosen = fields[provider.value] || [];
        for (const name of all) {
            const row = document.querySelector(`.form-row.field-${name}`);
            if (row) {
                row.hidden = !(provider.value === "" || chosen.includes(name));
            }
        }
    };
    provider.addEventListener("change", show);
    show();
});
