// The explorer's start script, served from /explorer/assets/explorer.js: a file, not an inline script, so that the
// page's CSP allows scripts from the gateway's own origin only. It runs after Yoga's GraphiQL bundle (the
// YogaGraphiQL global) and reads its settings from the root element's data attributes.
(function () {
  'use strict';
  var root = document.getElementById('explorer');
  var endpoint = root.getAttribute('data-endpoint');
  var assets = root.getAttribute('data-assets');

  // Monaco's workers from this origin: the bundle's own renderer makes blob: URLs of them, which the CSP would have to allow.
  var workers = { editorWorkerService: 'editor.worker.js', json: 'json.worker.js', graphql: 'graphql.worker.js' };
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (_moduleId, label) {
      return assets + (workers[label] || workers.editorWorkerService);
    },
  };

  // `npm run token` may hand the token over in the fragment (#token=...), which the browser never sends: it reaches
  // no server log. It is taken out of the address at once, so that it stays in neither the address bar nor a bookmark.
  var fragment = new URLSearchParams(location.hash.slice(1));
  var token = fragment.get('token') || '';
  if (fragment.has('token')) history.replaceState(null, '', location.pathname + location.search);
  var headers = JSON.stringify({ Authorization: 'Bearer ' + token }, null, 2);

  // POSTs as JSON to the gateway. The prefilled `Authorization: Bearer` with no token yet is left out: sent, it
  // would be refused as malformed credentials, where the caller meant to be anonymous.
  function fetcher(params, options) {
    var sent = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    var given = (options && options.headers) || {};
    Object.keys(given).forEach(function (name) {
      var value = String(given[name]);
      if (name.toLowerCase() === 'authorization' && /^bearer\s*$/i.test(value.trim())) return;
      sent[name] = value;
    });
    return fetch(endpoint, { method: 'POST', headers: sent, body: JSON.stringify(params), credentials: 'same-origin' }).then(function (response) {
      return response.json();
    });
  }

  YogaGraphiQL.renderYogaGraphiQL(root, {
    title: 'Gateway explorer',
    fetcher: fetcher,
    initialHeaders: headers,
    defaultHeaders: headers,
    // A token in the headers editor is not written to localStorage.
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: 'headers',
  });
})();
