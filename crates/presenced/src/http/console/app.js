// The console's one script (no build step): live counts on the status
// page, and on the directory page the search and its presence updating in
// place from /console/events. Served as a file: the page's
// Content-Security-Policy allows no inline script.
"use strict";

(function () {
  function toLogin(response) {
    if (response.status === 401) {
      window.location.assign("/console/login");
      return true;
    }
    return false;
  }

  // Status: the counts, every 2 s.
  const counts = document.getElementById("counts");
  if (counts) {
    const uptime = document.getElementById("uptime");
    // NOTIFYs per second, from the counter's growth between two polls.
    const chart = document.querySelector("#notify-rate polyline");
    const rateNow = document.getElementById("notify-rate-now");
    const rates = [];
    let last = null;
    const plot = function (sent, at) {
      if (last !== null && at > last.at) {
        rates.push(Math.max(0, (sent - last.sent) / ((at - last.at) / 1000)));
        if (rates.length > 60) {
          rates.shift();
        }
        const top = Math.max(1, ...rates);
        chart.setAttribute("points", rates.map(function (r, i) {
          return (i * 5) + "," + (58 - (r / top) * 56).toFixed(1);
        }).join(" "));
        rateNow.textContent = "now " + rates[rates.length - 1].toFixed(1) + "/s, peak " + top.toFixed(1) + "/s";
      }
      last = { sent: sent, at: at };
    };
    const refresh = async function () {
      const response = await fetch("/console/api/status", { credentials: "same-origin" });
      if (toLogin(response) || !response.ok) {
        return;
      }
      const data = await response.json();
      for (const cell of counts.querySelectorAll("td[data-count]")) {
        const value = data.counts[cell.dataset.count];
        if (value !== undefined) {
          cell.textContent = String(value);
        }
      }
      uptime.textContent = data.uptime_secs + " s";
      plot(data.counts.notifies_sent, Date.now());
      document.getElementById("directory-health").textContent = data.directory;
    };
    window.setInterval(function () { refresh().catch(function () {}); }, 2000);
  }

  // Directory: search, then watch the presence of what is shown.
  const form = document.getElementById("search");
  if (!form) {
    return;
  }
  const input = document.getElementById("q");
  const body = document.querySelector("#results tbody");
  const summary = document.getElementById("summary");
  let source = null;

  function label(presence) {
    let text = presence.class;
    if (presence.activity_text) {
      text += " — " + presence.activity_text;
    } else if (presence.activity) {
      text += " — " + presence.activity;
    }
    return text;
  }

  function paint(cell, presence) {
    cell.textContent = label(presence);
    cell.className = "presence p-" + presence.class.toLowerCase();
    cell.title = "availability " + presence.availability + ", from " + presence.source;
  }

  // A contact-center agent's status (seed 003: CC users show their CC
  // status beside their UC presence); empty for everyone else.
  function paintCc(cell, status) {
    cell.textContent = status ? status.text : "";
    cell.title = status ? "agent " + status.agent + ": " + status.state + ", device " + status.device : "";
  }

  function cell(text, muted) {
    const td = document.createElement("td");
    td.textContent = text;
    if (muted) {
      td.className = "muted";
    }
    return td;
  }

  function render(data) {
    body.replaceChildren();
    for (const entry of data.entries) {
      const row = document.createElement("tr");
      const name = document.createElement("td");
      const link = document.createElement("a");
      link.href = "/console/presentity?uri=" + encodeURIComponent(entry.uri);
      link.textContent = entry.display_name;
      name.appendChild(link);
      row.appendChild(name);
      row.appendChild(cell(entry.uri, true));
      row.appendChild(cell(entry.kind));
      row.appendChild(cell(entry.origins.join(", ")));
      const presence = document.createElement("td");
      presence.dataset.uri = entry.uri;
      paint(presence, entry.presence);
      row.appendChild(presence);
      const cc = document.createElement("td");
      cc.dataset.cc = entry.uri;
      paintCc(cc, entry.cc_status);
      row.appendChild(cc);
      body.appendChild(row);
    }
    const shown = data.entries.length;
    const entries = function (n) { return n === 1 ? "1 entry" : n + " entries"; };
    summary.textContent = data.total === 0 ? "Nothing found."
      : (shown < data.total ? shown + " of " + entries(data.total) : entries(data.total));
  }

  function watch(uris) {
    if (source) {
      source.close();
      source = null;
    }
    if (uris.length === 0) {
      return;
    }
    const query = uris.map(function (u) { return "uri=" + encodeURIComponent(u); }).join("&");
    source = new EventSource("/console/events?" + query);
    source.addEventListener("presence", function (event) {
      const update = JSON.parse(event.data);
      for (const td of body.querySelectorAll("td[data-uri]")) {
        if (td.dataset.uri === update.uri) {
          paint(td, update.presence);
        }
      }
      for (const td of body.querySelectorAll("td[data-cc]")) {
        if (td.dataset.cc === update.uri) {
          paintCc(td, update.cc_status);
        }
      }
    });
  }

  async function search() {
    const q = input.value.trim();
    window.history.replaceState(null, "", q ? "?q=" + encodeURIComponent(q) : "?");
    const response = await fetch("/console/api/directory?per_page=50&q=" + encodeURIComponent(q),
      { credentials: "same-origin" });
    if (toLogin(response)) {
      return;
    }
    if (!response.ok) {
      summary.textContent = "The search failed (" + response.status + ").";
      return;
    }
    const data = await response.json();
    render(data);
    watch(data.entries.map(function (e) { return e.uri; }));
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    search().catch(function () { summary.textContent = "The search failed."; });
  });
  const initial = new URLSearchParams(window.location.search).get("q");
  if (initial !== null) {
    input.value = initial;
  }
  search().catch(function () { summary.textContent = "The search failed."; });
})();
