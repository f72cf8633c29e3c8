#include "orchestrator/improve/scheduler.h"

#include <algorithm>
#include <cstdio>

namespace rift::improve {
namespace {

bool IsSelfplayKind(const std::string& kind) {
  return kind == "selfplay" || kind == "gpu_selfplay" || kind == "fallback_selfplay";
}

bool TakesASlot(const std::string& kind) {
  return kind.rfind("training.", 0) == 0 || kind == "eval" || kind == "promote";
}

std::string Percent(double v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", v);
  return buf;
}

}  // namespace

uint32_t SeedFromKey(const std::string& key) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>((h ^ (h >> 31)) & 0x7fffffff);
}

NodeTarget TargetFor(const SchedulerConfig& config, const NodeLoad& node) {
  NodeTarget t;
  t.node_id = node.node_id;
  t.kind = node.gpus > 0 ? "gpu_selfplay" : "selfplay";
  for (const auto& j : node.jobs) {
    if (j.Active() && IsSelfplayKind(j.kind)) t.running++;
  }
  if (!node.reachable) {
    t.why = "unreachable";
    return t;
  }
  if (!node.healthy) {
    t.why = "unhealthy";
    return t;
  }
  if (node.memory_percent > config.memory_pressure_percent) {
    t.why = "pressure: memory " + Percent(node.memory_percent);
    return t;
  }
  if (node.disk_percent > node.disk_high_percent) {
    t.why = "pressure: disk " + Percent(node.disk_percent) + " above the high watermark";
    return t;
  }
  int capacity = node.gpus > 0 ? node.gpus * config.selfplay_per_gpu
                               : std::clamp(node.cpus / 2, 1, std::max(config.cpu_selfplay_max, 1));
  if (node.gpus == 0 && config.cpu_selfplay_max <= 0) {
    t.why = "cpu selfplay disabled (cpu_selfplay_max: 0)";
    capacity = 0;
  }
  int busy = 0, active = 0;
  for (const auto& j : node.jobs) {
    if (!j.Active()) continue;
    active++;
    if (TakesASlot(j.kind)) busy++;
  }
  t.target = std::max(0, capacity - busy);
  if (busy > 0 && t.target < capacity)
    t.why = std::to_string(busy) + " slot(s) taken by training/eval";
  if (node.max_parallel_jobs > 0) {
    int room = std::max(0, node.max_parallel_jobs - active) + t.running;
    if (room < t.target) {
      t.target = room;
      t.why = "max_parallel_jobs " + std::to_string(node.max_parallel_jobs);
    }
  }
  return t;
}

std::string Scheduler::Key(uint64_t term, const std::string& node, size_t slot) const {
  return "sched-t" + std::to_string(term) + "-" + node + "-s" + std::to_string(slot) + "-g" +
         std::to_string(generation_.at(node)[slot]);
}

std::vector<StartRequest> Scheduler::Plan(uint64_t term, const std::vector<NodeLoad>& nodes) {
  if (term != term_) {  // keys carry the term: a new term numbers its slots afresh
    term_ = term;
    generation_.clear();
  }
  std::vector<const NodeLoad*> order;
  for (const auto& n : nodes) order.push_back(&n);
  std::sort(order.begin(), order.end(),
            [](const NodeLoad* a, const NodeLoad* b) { return a->node_id < b->node_id; });
  std::vector<StartRequest> out;
  targets_.clear();
  for (const NodeLoad* n : order) {
    NodeTarget t = TargetFor(config_, *n);
    auto& gens = generation_[n->node_id];
    if (gens.size() < static_cast<size_t>(t.target)) gens.resize(t.target, 0);
    std::map<std::string, const JobView*> by_key;
    for (const auto& j : n->jobs) {
      if (!j.idempotency_key.empty()) by_key[j.idempotency_key] = &j;
    }
    // A slot is free unless its current key's job is active; a finished one frees the slot and
    // moves it to its next generation (a new key: the next start is a new job).
    std::vector<size_t> free_slots;
    for (size_t s = 0; s < gens.size(); ++s) {
      auto it = by_key.find(Key(term, n->node_id, s));
      if (it != by_key.end() && !it->second->Active()) {
        gens[s]++;
        it = by_key.end();
      }
      if (it == by_key.end() && s < static_cast<size_t>(t.target)) free_slots.push_back(s);
    }
    int need = std::max(0, t.target - t.running);
    for (size_t i = 0; i < free_slots.size() && static_cast<int>(i) < need; ++i) {
      StartRequest r;
      r.node_id = n->node_id;
      r.kind = t.kind;
      r.term = term;
      r.idempotency_key = Key(term, n->node_id, free_slots[i]);
      r.params = {{"games", std::to_string(config_.selfplay_games)},
                  {"board", config_.board},
                  {"seed", std::to_string(SeedFromKey(r.idempotency_key))}};
      out.push_back(std::move(r));
      t.starting++;
    }
    targets_.push_back(std::move(t));
  }
  return out;
}

}  // namespace rift::improve
