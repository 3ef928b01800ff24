// Starts Swagger UI on /docs over this server's OpenAPI document (no validator, no CDN).
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  persistAuthorization: false, // the key is not kept after the tab closes
  layout: "BaseLayout",
  presets: [window.SwaggerUIBundle.presets.apis],
});
