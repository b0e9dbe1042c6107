/* Paper Digest's search worker: Material's search box, dialog and keys, this site's index (digest/search.py).
 *
 * It speaks Material's worker protocol (SETUP -> READY, QUERY -> RESULT; Material's bundle posts the documents of
 * search/search_index.json) and reads the term postings from search/terms.json next to them. A query is cut into
 * terms as the index was: Latin words stemmed, and matched as prefixes while they are being typed; a run of
 * Chinese characters is matched whole when the index knows it (长上下文), otherwise cut into the fewest, longest
 * words the index knows, each matched exactly (no 长* prefix matches). `normalize`, `stem` and the word pattern are
 * twins of those in digest/search.py.
 */
"use strict"

const SETUP = 0, READY = 1, QUERY = 2, RESULT = 3   // Material's SearchMessageType
const HAN = "\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff"
const WORD = new RegExp(`[${HAN}]+|[^\\W_${HAN}]+`, "gu")
const IS_HAN = new RegExp(`^[${HAN}]+$`, "u")
const STOP = new Set(("a an and are as at be by can for from has in into is it its of on or per than that the " +
  "their this to was were which with 的 了 和 与 及 在 是 把 被 对 以 而 其 也 都 就 这 那 个 为 等 之 或 中 上 下 从 到 将").split(" "))
const PREFIX = 0.6      // a word that only starts with the typed one counts less than the word itself
const K = 4             // weight saturation: w / (w + K)

let docs = [], postings = new Map(), vocabulary = [], ready = null

function normalize(text) {
  return text.normalize("NFKC").toLowerCase()
}

function stem(word) {
  if (word.length > 5)
    word = word.replace(/is(e|ed|es|ing|ation|ations|er|ers)$/, "iz$1").replace(/iz(ation|ations|ed|es|ing|er|ers)$/, "ize")
  if (word.length > 4 && word.endsWith("ies")) return word.slice(0, -3) + "y"
  if (word.length > 3 && word.endsWith("s") && !/(ss|us|is)$/.test(word)) return word.slice(0, -1)
  return word
}

/* A term's postings: (document - previous document) << 5 | weight per posting, as 5-bit groups, lowest first,
   one character each (DIGITS[32 + group] while more follow); digest/search.py's `varint` */
const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
const CODE = Object.fromEntries([...DIGITS].map((ch, i) => [ch, i]))

function decode(text) {
  const out = []
  let doc = -1, value = 0, scale = 1
  for (const ch of text) {
    const code = CODE[ch]
    value += (code & 31) * scale
    scale *= 32
    if (code < 32) {
      doc += Math.floor(value / 32)
      out.push([doc, value % 32])
      value = 0
      scale = 1
    }
  }
  return out
}

async function setup(data, base) {
  docs = data.docs
  const response = await fetch(new URL("../search/terms.json", base))
  const { terms } = await response.json()
  postings = new Map(Object.entries(terms))
  vocabulary = [...postings.keys()].sort()
}

/* Index words that start with `prefix` (binary search in the sorted vocabulary) */
function completions(prefix) {
  let lo = 0, hi = vocabulary.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (vocabulary[mid] < prefix) lo = mid + 1; else hi = mid
  }
  const out = []
  for (let i = lo; i < vocabulary.length && vocabulary[i].startsWith(prefix); i++) out.push(vocabulary[i])
  return out
}

/* A run of Chinese characters as index words: whole if known, else the fewest and longest known words
   (dynamic programming over the run; an unknown character is skipped) */
function segment(run) {
  if (postings.has(run)) return [run]
  const best = new Array(run.length + 1).fill(null)
  best[0] = { cost: 0, words: [] }
  for (let i = 0; i < run.length; i++) {
    if (!best[i]) continue
    const skip = { cost: best[i].cost + 10, words: best[i].words }
    if (!best[i + 1] || skip.cost < best[i + 1].cost) best[i + 1] = skip
    for (let j = i + 1; j <= run.length; j++) {
      const word = run.slice(i, j)
      if (!postings.has(word)) continue
      const next = { cost: best[i].cost + 1 + 1 / word.length, words: [...best[i].words, word] }
      if (!best[j] || next.cost < best[j].cost) best[j] = next
    }
  }
  return best[run.length].words
}

/* The query as terms: {shown: what the reader typed, words: [[index word, factor], ...]} */
function parse(query) {
  const terms = []
  for (const word of normalize(query).match(WORD) || []) {
    if (IS_HAN.test(word)) {
      for (const part of segment(word))
        if (!STOP.has(part)) terms.push({ shown: part, words: [[part, 1]] })
    } else if (!STOP.has(word)) {
      const stemmed = stem(word)
      const words = [[stemmed, 1]]
      if (stemmed.length >= 2)
        for (const other of completions(stemmed.length < word.length ? stemmed : word))
          if (other !== stemmed) words.push([other, PREFIX])
      terms.push({ shown: word, words })
    }
  }
  return terms
}

function search(query) {
  const terms = parse(query)
  if (!terms.length) return { items: [] }
  const scores = new Map()
  terms.forEach((term, t) => {
    const best = new Map()
    for (const [word, factor] of term.words) {
      if (!postings.has(word)) continue
      const list = decode(postings.get(word))
      const idf = Math.log(1 + docs.length / list.length)
      for (const [doc, weight] of list) {
        const score = idf * factor * weight / (weight + K)
        if (score > (best.get(doc) || 0)) best.set(doc, score)
      }
    }
    for (const [doc, score] of best) {
      const entry = scores.get(doc) || { score: 0, matched: new Set() }
      entry.score += score
      entry.matched.add(t)
      scores.set(doc, entry)
    }
  })
  const ranked = [...scores.entries()].map(([doc, { score, matched }]) => {
    const coverage = matched.size / terms.length
    return { doc, matched, score: score * (docs[doc].boost ?? 1) * coverage * coverage }
  }).sort((a, b) => b.score - a.score || a.doc - b.doc)
  const mark = highlighter(terms)
  return {
    items: ranked.map(({ doc, matched, score }) => {
      const { location, title, text, tags } = docs[doc]
      const shown = {}
      terms.forEach((term, t) => { shown[term.shown] = matched.has(t) })
      return [{ location, title: mark(title), text: text ? `<p>${mark(text)}</p>` : "", ...(tags && { tags: tags.map(mark) }), score, terms: shown }]
    }),
  }
}

function escape(text) {
  return text.replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c])
}

/* Wrap what the reader typed in <mark>: a Latin word and what follows it, a Chinese word as it is */
function highlighter(terms) {
  // A Latin word is marked from the longest start it shares with its stem (quantised -> quanti: quantization)
  const root = (a, b) => { let i = 0; while (i < a.length && a[i] === b[i]) i++; return a.slice(0, Math.max(i, 2)) }
  const latin = terms.filter(t => !IS_HAN.test(t.shown)).map(t => root(t.shown, t.words[0][0]))
  const han = terms.filter(t => IS_HAN.test(t.shown)).map(t => t.shown)
  const quote = s => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  const parts = [...han.map(quote), ...latin.map(w => `(?<![\\p{L}\\p{N}])${quote(w)}[\\p{L}\\p{N}]*`)]
  if (!parts.length) return escape
  const pattern = new RegExp(parts.join("|"), "giu")
  return text => {
    let out = "", last = 0
    for (const match of text.matchAll(pattern)) {
      out += escape(text.slice(last, match.index)) + "<mark>" + escape(match[0]) + "</mark>"
      last = match.index + match[0].length
    }
    return out + escape(text.slice(last))
  }
}

addEventListener("message", async ({ data: message }) => {
  switch (message.type) {
    case SETUP:
      ready = setup(message.data, self.location.href)
      await ready
      postMessage({ type: READY })
      break
    case QUERY:
      await ready
      try {
        postMessage({ type: RESULT, data: search(message.data) })
      } catch (err) {
        console.warn(`Search failed for "${message.data}"`, err)
        postMessage({ type: RESULT, data: { items: [] } })
      }
      break
  }
})
