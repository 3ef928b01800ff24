// Tenants and keys (admin): create tenants, issue keys (the secret is shown once), list and
// revoke keys.
import { list } from "../api.js";
import { h, put, table, fmtTime, errorBox } from "../dom.js";

export default {
  mount(root, ctx) {
    const msg = h("div", { "aria-live": "polite" });
    const tenantsBox = h("div", { class: "panel" });
    const keysBox = h("div", { class: "panel" });
    const name = h("input", { id: "tenant-name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,64}", placeholder: "acme" });
    const kind = h("select", { id: "tenant-kind" }, h("option", { value: "external" }, "external"), h("option", { value: "internal" }, "internal"));
    const create = h("form", { class: "inline", "aria-label": "Create a tenant" },
      h("label", { for: "tenant-name" }, "Tenant name", name), h("label", { for: "tenant-kind" }, "Kind", kind),
      h("button", { type: "submit" }, "Create tenant"));
    create.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const t = await ctx.api("/v1/tenants", { method: "POST", body: { name: name.value.trim(), kind: kind.value } });
        put(msg, h("p", { class: "notice" }, `Tenant ${t.name} created (${t.id}).`));
        name.value = "";
        await refresh();
      } catch (err) { put(msg, errorBox(err)); }
    });
    const issue = async (tenant) => {
      try {
        const k = await ctx.api(`/v1/tenants/${tenant.id}/keys`, { method: "POST" });
        put(msg, h("div", { class: "notice", role: "alert" },
          h("p", {}, `New key for ${tenant.name} (shown only now; store it safely):`),
          h("p", { class: "secret mono", "data-testid": "new-key" }, k.key)));
        await refresh();
      } catch (err) { put(msg, errorBox(err)); }
    };
    const revoke = async (key) => {
      if (!confirm(`Revoke key ${key.prefix || key.id}? Requests with it will be refused.`)) return;
      try {
        await ctx.api(`/v1/keys/${key.id}/revoke`, { method: "POST" });
        put(msg, h("p", { class: "notice" }, `Key ${key.prefix || key.id} revoked.`));
        await refresh();
      } catch (err) { put(msg, errorBox(err)); }
    };
    put(root, h("h1", {}, "Tenants & keys"), h("section", { class: "panel", "aria-labelledby": "create-title" },
      h("h2", { id: "create-title" }, "Create a tenant"), create), msg, tenantsBox, keysBox);
    let names = new Map();
    async function refresh() {
      const tenants = await list("/v1/tenants");
      names = new Map(tenants.map((t) => [t.id, t.name]));
      put(tenantsBox, table("Tenants", [
        ["Name", (t) => t.name], ["ID", (t) => h("span", { class: "mono" }, t.id)], ["Kind", (t) => t.kind],
        ["Created (UTC)", (t) => fmtTime(t.created_at)],
        ["", (t) => { const b = h("button", { type: "button", class: "secondary", "aria-label": `Issue key for ${t.name}` }, "Issue key"); b.addEventListener("click", () => issue(t)); return b; }],
      ], tenants, "No tenants yet."));
      let keys;
      try { keys = await list("/v1/keys", { limit: 1000 }); }
      catch (err) { put(keysBox, h("h2", {}, "API keys"), errorBox(err)); return; }
      put(keysBox, table("API keys", [
        ["Key", (k) => h("span", { class: "mono" }, k.prefix ? `${k.prefix}…` : k.id)], ["Tenant", (k) => names.get(k.tenant_id) || k.tenant_id || "admin"],
        ["Name", (k) => k.name || ""], ["Created (UTC)", (k) => fmtTime(k.created_at)], ["Last used", (k) => fmtTime(k.last_used_at)],
        ["Status", (k) => k.revoked_at ? `revoked ${fmtTime(k.revoked_at)}` : k.expires_at && k.expires_at < Date.now() / 1000 ? "expired" : "active"],
        ["", (k) => {
          if (k.revoked_at || !k.tenant_id) return "";
          const b = h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${k.prefix || k.id}`, "data-key-id": k.id }, "Revoke");
          b.addEventListener("click", () => revoke(k));
          return b;
        }],
      ], keys, "No keys."));
    }
    return { title: "Tenants & keys", refresh, interval_ms: 5000 };
  },
};
