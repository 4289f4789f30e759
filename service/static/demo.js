/* The demo shop's own code: a tiny router and a consent banner wired to clearcount. */
(function () {
  var view = document.getElementById("view");

  function render() {
    var name = location.pathname.replace(/^\/demo\/?/, "") || "home";
    var template = document.getElementById("page-" + name) || document.getElementById("page-home");
    view.replaceChildren(template.content.cloneNode(true));
    if (name === "article") {
      var long = view.querySelector(".long");
      for (var i = 0; i < 40; i++) {
        var p = document.createElement("p");
        p.textContent = "Paragraph " + (i + 1) + " of the article. Keep scrolling.";
        long.appendChild(p);
      }
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-route]");
    if (!link) return;
    event.preventDefault();
    history.pushState({}, "", link.getAttribute("href"));
    render();
  });
  window.addEventListener("popstate", render);

  // The consent banner: a real site would use its consent manager here.
  var state = document.getElementById("consent-state");
  function choose(consent) {
    window.clearcount("consent", consent);
    state.textContent = "Consent: " + consent;
  }
  document.getElementById("consent-grant").addEventListener("click", function () { choose("granted"); });
  document.getElementById("consent-deny").addEventListener("click", function () { choose("denied"); });

  render();
})();
