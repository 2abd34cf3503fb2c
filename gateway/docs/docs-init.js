// Starts Swagger UI on /docs (a file of its own: the page's Content-Security-Policy allows no
// inline script). The document is the gateway's /openapi.json; "Try it out" calls the servers it
// names (relative, or none: this page's origin), so the same gateway. "Authorize" takes the bearer
// token from POST /auth/login and keeps it across reloads (persistAuthorization).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    // Off: the default sends the document to validator.swagger.io, a host of its own.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
