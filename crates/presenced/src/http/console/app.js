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

  // A table cell with `text`, muted or not.
  function cell(text, muted) {
    const td = document.createElement("td");
    td.textContent = text;
    if (muted) {
      td.className = "muted";
    }
    return td;
  }

  // A table cell linking `text` to the page of the presentity `uri`.
  function linkCell(uri, text) {
    const td = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/console/presentity?uri=" + encodeURIComponent(uri);
    link.textContent = text;
    td.appendChild(link);
    return td;
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
    // NOTIFY latency: p50 and p99 of each second the server kept (x is
    // the second, over the last 120; y shared by both lines).
    const latency = document.getElementById("notify-latency");
    const latencyNow = document.getElementById("notify-latency-now");
    const plotLatency = function (seconds) {
      if (!seconds || seconds.length === 0) {
        return;
      }
      const last = seconds[seconds.length - 1].second;
      const top = Math.max(1, ...seconds.map(function (s) { return s.p99_ms; }));
      const line = function (key) {
        return seconds.map(function (s) {
          const x = 300 - (last - s.second) * 2.5;
          return x.toFixed(1) + "," + (58 - (s[key] / top) * 56).toFixed(1);
        }).join(" ");
      };
      latency.querySelector("polyline.p50").setAttribute("points", line("p50_ms"));
      latency.querySelector("polyline.p99").setAttribute("points", line("p99_ms"));
      const newest = seconds[seconds.length - 1];
      latencyNow.textContent = "last second with NOTIFYs: p50 " + newest.p50_ms.toFixed(2) +
        " ms, p99 " + newest.p99_ms.toFixed(2) + " ms over " + newest.count + " NOTIFYs";
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
      plotLatency(data.notify_latency);
      document.getElementById("directory-health").textContent = data.directory;
    };
    window.setInterval(function () { refresh().catch(function () {}); }, 2000);
  }

  // Agents: the table follows the server's list in place (rows keep
  // their links, so keyboard focus stays where it is).
  const agents = document.querySelector("#agents tbody");
  if (agents) {
    const number = function (n) { return n === null || n === undefined ? "–" : String(n); };
    const agentRow = function (a) {
      let row = null;
      for (const tr of agents.querySelectorAll("tr[data-agent]")) {
        if (tr.dataset.agent === a.agent) {
          row = tr;
        }
      }
      if (row === null) {
        row = document.createElement("tr");
        row.dataset.agent = a.agent;
        row.appendChild(linkCell(a.presentity, a.agent));
        row.appendChild(cell(a.presentity, true));
        row.appendChild(cell(""));
        for (const name of ["cc", "profile", "rule", "published", "uc"]) {
          const td = cell("", name === "rule");
          td.dataset.cell = name;
          row.appendChild(td);
        }
        agents.appendChild(row);
      }
      row.children[2].textContent = a.user_state;
      const field = function (name) { return row.querySelector("td[data-cell=\"" + name + "\"]"); };
      field("cc").textContent = a.cc.text;
      field("cc").title = a.cc.state + ", device " + a.cc.device;
      field("profile").textContent = a.profile === null ? "none" : a.profile;
      field("rule").textContent = a.rule;
      field("published").textContent = number(a.published);
      field("uc").textContent = number(a.uc);
    };
    const listed = new EventSource("/console/agents/events");
    listed.addEventListener("agents", function (event) {
      const list = JSON.parse(event.data);
      const ids = new Set(list.map(function (a) { return a.agent; }));
      for (const tr of agents.querySelectorAll("tr[data-agent]")) {
        if (!ids.has(tr.dataset.agent)) {
          tr.remove();
        }
      }
      list.forEach(agentRow);
      const none = document.getElementById("no-agents");
      if (none) {
        none.hidden = list.length > 0;
      }
      document.getElementById("agents-summary").textContent =
        list.length === 1 ? "1 agent" : list.length + " agents";
    });
    return;
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

  function render(data) {
    body.replaceChildren();
    for (const entry of data.entries) {
      const row = document.createElement("tr");
      row.appendChild(linkCell(entry.uri, entry.display_name));
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
