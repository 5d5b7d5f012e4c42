//! The tcx-ingress program: forwards the RTP of an offloaded stream in the kernel, hands
//! everything else on (TCX_NEXT) untouched.
//!
//! Map key (8 bytes): `daddr u32 | dport u16 | 0u16`, network byte order as in the packet: our
//! local socket the peer sends to.
//!
//! Map value (`VALUE_SIZE` bytes). Everything the program compares with or writes into the packet
//! is kept in network byte order, so a load from the packet and a load from the value of the same
//! width hold the same bit pattern:
//!
//! | off | size | field                                                          | written by |
//! |-----|------|----------------------------------------------------------------|------------|
//! |   0 |  4   | `from` ip (the latched peer)                                   | userspace  |
//! |   4 |  2   | `from` port                                                    | userspace  |
//! |   6 |  2   | flags, host order: bit 0 = local delivery (`to` is loopback)   | userspace  |
//! |   8 |  4   | ssrc                                                           | userspace  |
//! |  12 |  4   | `via` ip (new source)  — 12..20 is stored as the IP saddr,daddr |  userspace |
//! |  16 |  4   | `to` ip (new destination)                                      | userspace  |
//! |  20 |  2   | `via` port — 20..24 is stored as the UDP sport,dport            | userspace  |
//! |  22 |  2   | `to` port                                                      | userspace  |
//! |  24 |  8   | packets, host order (atomic add)                               | program    |
//! |  32 |  8   | UDP payload bytes, host order (atomic add)                     | program    |
//! |  40 |  8   | bpf_ktime_get_ns of the last packet                            | program    |
//! |  48 |  4   | RTP timestamp of the last packet (network order)               | program    |
//! |  52 |  2   | RTP sequence number of the last packet (network order)         | program    |
//! |  54 |  2   | padding                                                        |            |
//!
//! Stack: `r10-64 .. r10` the `struct bpf_fib_lookup`, `r10-72` the key, `r10-76` the old UDP
//! ports, `r10-80` the RTP timestamp, `r10-82` the RTP sequence number.
//! Registers kept across helper calls: r6 = skb, r7 = map value, r8 = UDP payload length.

use super::asm::{Alu, Asm, AsmError, Cond, Insn, Size, R0, R1, R10, R2, R3, R4, R5, R6, R7, R8};

pub const KEY_SIZE: usize = 8;
pub const VALUE_SIZE: usize = 56;

pub const V_FROM_IP: usize = 0;
pub const V_FROM_PORT: usize = 4;
pub const V_FLAGS: usize = 6;
pub const V_SSRC: usize = 8;
pub const V_VIA_IP: usize = 12;
pub const V_TO_IP: usize = 16;
pub const V_VIA_PORT: usize = 20;
pub const V_TO_PORT: usize = 22;
pub const V_PACKETS: usize = 24;
pub const V_BYTES: usize = 32;
pub const V_LAST_NS: usize = 40;
pub const V_LAST_TS: usize = 48;
pub const V_LAST_SEQ: usize = 52;
/// Flag bit: `to` is a loopback address: rewrite and let the stack deliver it, no FIB lookup.
pub const FLAG_LOCAL: u16 = 1;

// Helper ids (enum bpf_func_id).
const MAP_LOOKUP_ELEM: i32 = 1;
const KTIME_GET_NS: i32 = 5;
const SKB_STORE_BYTES: i32 = 9;
const L3_CSUM_REPLACE: i32 = 10;
const L4_CSUM_REPLACE: i32 = 11;
const REDIRECT: i32 = 23;
const SKB_PULL_DATA: i32 = 39;
const FIB_LOOKUP: i32 = 69;

// Helper flags.
const F_PSEUDO_HDR: i32 = 1 << 4;
const F_MARK_MANGLED_0: i32 = 1 << 5;

// Return codes: enum tcx_action_base.
const TCX_NEXT: i32 = -1;
const TC_ACT_SHOT: i32 = 2;

/// The loopback device's ifindex, fixed in every network namespace.
const LOOPBACK_IFINDEX: i32 = 1;

// struct __sk_buff offsets (these and the bpf_fib_lookup ones below checked with offsetof
// against the system's linux/bpf.h).
const SKB_LEN: i16 = 0;
const SKB_IFINDEX: i16 = 40;
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;
const SKB_GSO_SIZE: i16 = 176;

// Packet offsets from the Ethernet header (IPv4 without options).
const ETH_TYPE: i16 = 12;
const IP: i16 = 14;
const IP_VER_IHL: i16 = IP;
const IP_TOS: i16 = IP + 1;
const IP_TOT_LEN: i16 = IP + 2;
const IP_FRAG: i16 = IP + 6;
const IP_PROTO: i16 = IP + 9;
const IP_CSUM: i32 = (IP + 10) as i32;
const IP_SADDR: i16 = IP + 12;
const IP_DADDR: i16 = IP + 16;
const UDP: i16 = IP + 20;
const UDP_PORTS: i16 = UDP;
const UDP_SPORT: i16 = UDP;
const UDP_DPORT: i16 = UDP + 2;
const UDP_LEN: i16 = UDP + 4;
const UDP_CSUM: i32 = (UDP + 6) as i32;
const RTP: i16 = UDP + 8;
const RTP_SEQ: i16 = RTP + 2;
const RTP_TS: i16 = RTP + 4;
const RTP_SSRC: i16 = RTP + 8;
/// Everything the program reads: eth + IPv4 + UDP + the RTP fixed header.
const MIN_LEN: i32 = (RTP + 12) as i32;

// Stack slots.
const FIB: i16 = -64;
const KEY: i16 = -72;
const OLD_PORTS: i16 = -76;
const SAVED_TS: i16 = -80;
const SAVED_SEQ: i16 = -82;
// struct bpf_fib_lookup field offsets.
const FIB_FAMILY: i16 = 0;
const FIB_L4: i16 = 1;
const FIB_SPORT: i16 = 2;
const FIB_DPORT: i16 = 4;
const FIB_TOT_LEN: i16 = 6;
const FIB_IFINDEX: i16 = 8;
const FIB_TOS: i16 = 12;
const FIB_SRC: i16 = 16;
const FIB_DST: i16 = 32;
const FIB_SMAC: i16 = 52;
const FIB_DMAC: i16 = 58;
const AF_INET: i32 = 2;

fn v(off: usize) -> i16 {
    off as i16
}

/// Builds the program for the hash map behind `map_fd`.
pub fn build(map_fd: i32) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    a.alu64_reg(Alu::Mov, R6, R1); // r6 = skb
    a.ldx(Size::W, R4, R6, SKB_GSO_SIZE);
    a.jmp_imm(Cond::Ne, R4, 0, "next"); // GRO/GSO super-packets (many datagrams): the stack
    // The headers we read must be in the linear part: usually they are; where a driver left them
    // in page fragments, pull them in (only for packets long enough to be RTP at all).
    a.ldx(Size::W, R2, R6, SKB_DATA);
    a.ldx(Size::W, R3, R6, SKB_DATA_END);
    a.alu64_reg(Alu::Mov, R4, R2);
    a.alu64_imm(Alu::Add, R4, MIN_LEN);
    a.jmp_reg(Cond::Le, R4, R3, "linear");
    a.ldx(Size::W, R4, R6, SKB_LEN);
    a.jmp_imm(Cond::Lt, R4, MIN_LEN, "next");
    a.alu64_reg(Alu::Mov, R1, R6);
    a.alu64_imm(Alu::Mov, R2, MIN_LEN);
    a.call(SKB_PULL_DATA);
    a.jmp_imm(Cond::Ne, R0, 0, "next");
    a.label("linear")?;
    packet_bounds(&mut a); // r2 = data, r3 = data_end, at least MIN_LEN bytes
    a.ldx(Size::H, R4, R2, ETH_TYPE); // EtherType, read little-endian
    a.jmp_imm(Cond::Ne, R4, 0x0008, "next"); // 0x0800 IPv4 only
    a.ldx(Size::B, R4, R2, IP_VER_IHL);
    a.jmp_imm(Cond::Ne, R4, 0x45, "next"); // version 4, IHL 5: no options
    a.ldx(Size::B, R4, R2, IP_PROTO);
    a.jmp_imm(Cond::Ne, R4, 17, "next"); // UDP
    a.ldx(Size::H, R4, R2, IP_FRAG);
    a.alu32_imm(Alu::And, R4, 0xff3f); // MF | fragment offset (0x3fff in network order)
    a.jmp_imm(Cond::Ne, R4, 0, "next"); // fragments go to the stack
    a.ldx(Size::B, R4, R2, RTP);
    a.alu32_imm(Alu::And, R4, 0xc0);
    a.jmp_imm(Cond::Ne, R4, 0x80, "next"); // RTP version 2
    a.ldx(Size::B, R4, R2, RTP + 1);
    a.alu32_imm(Alu::And, R4, 0x7f); // payload type (RTCP packet types 200..204 read as 72..76)
    a.jmp_imm(Cond::Lt, R4, 72, "rtp");
    a.jmp_imm(Cond::Gt, R4, 76, "rtp");
    a.ja("next"); // RTCP multiplexed on the RTP port: userspace
    a.label("rtp")?;
    a.ldx(Size::W, R4, R2, IP_DADDR); // key.daddr
    a.stx(Size::W, R10, KEY, R4);
    a.ldx(Size::H, R4, R2, UDP_DPORT); // key.dport
    a.stx(Size::H, R10, KEY + 4, R4);
    a.st(Size::H, R10, KEY + 6, 0); // key.pad
    a.ld_map_fd(R1, map_fd);
    a.alu64_reg(Alu::Mov, R2, R10);
    a.alu64_imm(Alu::Add, R2, KEY as i32); // r2 = &key
    a.call(MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, "next"); // no rule for this local socket
    a.alu64_reg(Alu::Mov, R7, R0); // r7 = value
    packet_bounds(&mut a); // the call clobbered r2/r3: reload and re-check
    a.ldx(Size::W, R4, R2, IP_SADDR);
    a.ldx(Size::W, R5, R7, v(V_FROM_IP));
    a.jmp_reg(Cond::Ne, R4, R5, "next"); // source address is not the latched peer
    a.ldx(Size::H, R4, R2, UDP_SPORT);
    a.ldx(Size::H, R5, R7, v(V_FROM_PORT));
    a.jmp_reg(Cond::Ne, R4, R5, "next"); // source port is not the latched peer
    a.ldx(Size::W, R4, R2, RTP_SSRC);
    a.ldx(Size::W, R5, R7, v(V_SSRC));
    a.jmp_reg(Cond::Ne, R4, R5, "next"); // another SSRC: userspace handles the change
    a.ldx(Size::H, R8, R2, UDP_LEN);
    a.be(R8, 16); // r8 = UDP length, host order
    a.jmp_imm(Cond::Lt, R8, 20, "next"); // shorter than UDP + RTP header: not ours
    a.alu64_imm(Alu::Add, R8, -8); // r8 = UDP payload bytes
    a.ldx(Size::W, R4, R2, UDP_PORTS); // old sport|dport, for the checksum update
    a.stx(Size::W, R10, OLD_PORTS, R4);
    a.ldx(Size::W, R4, R2, RTP_TS); // RTP timestamp and sequence, kept for the counters
    a.stx(Size::W, R10, SAVED_TS, R4);
    a.ldx(Size::H, R4, R2, RTP_SEQ);
    a.stx(Size::H, R10, SAVED_SEQ, R4);
    a.ldx(Size::H, R4, R7, v(V_FLAGS));
    a.jmp_imm(Cond::Set, R4, FLAG_LOCAL as i32, "local");

    // Routed: ask the FIB for the egress interface and next-hop MACs before touching the packet.
    for off in (FIB..0).step_by(8) {
        a.st(Size::DW, R10, off, 0); // zero the 64-byte struct bpf_fib_lookup
    }
    a.st(Size::B, R10, FIB + FIB_FAMILY, AF_INET);
    a.st(Size::B, R10, FIB + FIB_L4, 17);
    a.ldx(Size::H, R4, R7, v(V_VIA_PORT));
    a.stx(Size::H, R10, FIB + FIB_SPORT, R4);
    a.ldx(Size::H, R4, R7, v(V_TO_PORT));
    a.stx(Size::H, R10, FIB + FIB_DPORT, R4);
    a.ldx(Size::H, R4, R2, IP_TOT_LEN);
    a.be(R4, 16);
    a.stx(Size::H, R10, FIB + FIB_TOT_LEN, R4); // host order, for the MTU check
    a.ldx(Size::W, R4, R6, SKB_IFINDEX);
    a.stx(Size::W, R10, FIB + FIB_IFINDEX, R4); // the ingress interface
    a.ldx(Size::B, R4, R2, IP_TOS);
    a.stx(Size::B, R10, FIB + FIB_TOS, R4);
    a.ldx(Size::W, R4, R7, v(V_VIA_IP));
    a.stx(Size::W, R10, FIB + FIB_SRC, R4);
    a.ldx(Size::W, R4, R7, v(V_TO_IP));
    a.stx(Size::W, R10, FIB + FIB_DST, R4);
    a.alu64_reg(Alu::Mov, R1, R6);
    a.alu64_reg(Alu::Mov, R2, R10);
    a.alu64_imm(Alu::Add, R2, FIB as i32);
    a.alu64_imm(Alu::Mov, R3, 64);
    a.alu64_imm(Alu::Mov, R4, 0);
    a.call(FIB_LOOKUP);
    a.jmp_imm(Cond::Ne, R0, 0, "next"); // no route, no neighbour, forwarding off...: userspace
    rewrite(&mut a);
    store_stack(&mut a, 0, FIB + FIB_DMAC, 6); // eth destination = next hop
    store_stack(&mut a, 6, FIB + FIB_SMAC, 6); // eth source = egress interface
    account(&mut a);
    a.ldx(Size::W, R1, R10, FIB + FIB_IFINDEX); // egress interface from the FIB
    a.alu64_imm(Alu::Mov, R2, 0);
    a.call(REDIRECT);
    a.exit(); // TC_ACT_REDIRECT

    // Local (`to` is loopback): only for packets that came in on loopback. They carry the route
    // their sender's output lookup attached (local delivery), so after the rewrite the packet simply
    // continues up the stack to the socket now named in its header. A redirect into the ingress
    // would drop that route, and the input route lookup refuses 127/8 as a martian unless
    // route_localnet is set (measured: in_martian_dst in /proc/net/stat/rt_cache). From any other
    // interface a loopback destination would be a martian too: userspace sends it.
    a.label("local")?;
    a.ldx(Size::W, R4, R6, SKB_IFINDEX);
    a.jmp_imm(Cond::Ne, R4, LOOPBACK_IFINDEX, "next");
    rewrite(&mut a);
    account(&mut a);
    a.alu64_imm(Alu::Mov, R0, TCX_NEXT); // on to later tcx programs and the stack, rewritten
    a.exit();

    a.label("next")?;
    a.alu64_imm(Alu::Mov, R0, TCX_NEXT);
    a.exit();
    a.label("shot")?; // a helper failed half-way through the rewrite: the packet is damaged
    a.alu64_imm(Alu::Mov, R0, TC_ACT_SHOT);
    a.exit();
    a.finish()
}

/// r2 = skb->data, r3 = skb->data_end; to "next" unless MIN_LEN bytes are there.
fn packet_bounds(a: &mut Asm) {
    a.ldx(Size::W, R2, R6, SKB_DATA);
    a.ldx(Size::W, R3, R6, SKB_DATA_END);
    a.alu64_reg(Alu::Mov, R4, R2);
    a.alu64_imm(Alu::Add, R4, MIN_LEN);
    a.jmp_reg(Cond::Gt, R4, R3, "next");
}

/// Rewrites addresses and ports with checksum fix-ups. Old values come from the rule (saddr =
/// `from` ip, matched), the key (daddr) and the stack (ports); new ones from the rule.
fn rewrite(a: &mut Asm) {
    let pseudo = F_PSEUDO_HDR | F_MARK_MANGLED_0 | 4;
    // IPv4 header checksum: saddr, daddr.
    csum(a, L3_CSUM_REPLACE, IP_CSUM, (R7, v(V_FROM_IP)), (R7, v(V_VIA_IP)), 4);
    csum(a, L3_CSUM_REPLACE, IP_CSUM, (R10, KEY), (R7, v(V_TO_IP)), 4);
    // UDP checksum: the addresses through the pseudo-header, then both ports as one word.
    csum(a, L4_CSUM_REPLACE, UDP_CSUM, (R7, v(V_FROM_IP)), (R7, v(V_VIA_IP)), pseudo);
    csum(a, L4_CSUM_REPLACE, UDP_CSUM, (R10, KEY), (R7, v(V_TO_IP)), pseudo);
    csum(a, L4_CSUM_REPLACE, UDP_CSUM, (R10, OLD_PORTS), (R7, v(V_VIA_PORT)), F_MARK_MANGLED_0 | 4);
    // The new saddr,daddr and sport,dport sit side by side in the value, in packet order.
    store(a, IP_SADDR as i32, R7, v(V_VIA_IP), 8);
    store(a, UDP_SPORT as i32, R7, v(V_VIA_PORT), 4);
}

/// `helper(skb, field, *(u32 *)from, *(u32 *)to, flags)`; to "shot" on failure.
fn csum(a: &mut Asm, helper: i32, field: i32, from: (super::asm::Reg, i16), to: (super::asm::Reg, i16), flags: i32) {
    a.alu64_reg(Alu::Mov, R1, R6);
    a.alu64_imm(Alu::Mov, R2, field);
    a.ldx(Size::W, R3, from.0, from.1);
    a.ldx(Size::W, R4, to.0, to.1);
    a.alu64_imm(Alu::Mov, R5, flags);
    a.call(helper);
    a.jmp_imm(Cond::Ne, R0, 0, "shot");
}

/// `bpf_skb_store_bytes(skb, at, base + off, len, 0)`; to "shot" on failure.
fn store(a: &mut Asm, at: i32, base: super::asm::Reg, off: i16, len: i32) {
    a.alu64_reg(Alu::Mov, R1, R6);
    a.alu64_imm(Alu::Mov, R2, at);
    a.alu64_reg(Alu::Mov, R3, base);
    a.alu64_imm(Alu::Add, R3, off as i32);
    a.alu64_imm(Alu::Mov, R4, len);
    a.alu64_imm(Alu::Mov, R5, 0);
    a.call(SKB_STORE_BYTES);
    a.jmp_imm(Cond::Ne, R0, 0, "shot");
}

fn store_stack(a: &mut Asm, at: i32, off: i16, len: i32) {
    store(a, at, R10, off, len);
}

/// Counts the packet (atomic adds: several CPUs may forward the same stream) and records the
/// last sequence number, timestamp and time (plain stores: any one packet's values will do).
fn account(a: &mut Asm) {
    a.alu64_imm(Alu::Mov, R1, 1);
    a.atomic_add64(R7, v(V_PACKETS), R1);
    a.atomic_add64(R7, v(V_BYTES), R8);
    a.ldx(Size::W, R1, R10, SAVED_TS);
    a.stx(Size::W, R7, v(V_LAST_TS), R1);
    a.ldx(Size::H, R1, R10, SAVED_SEQ);
    a.stx(Size::H, R7, v(V_LAST_SEQ), R1);
    a.call(KTIME_GET_NS);
    a.stx(Size::DW, R7, v(V_LAST_NS), R0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_assembles_within_limits() {
        let prog = build(3).unwrap();
        // 254 today: far below the verifier's limits.
        assert!(prog.len() < 300, "{} instructions", prog.len());
        // Every jump lands inside the program.
        for (i, insn) in prog.iter().enumerate() {
            if insn.code & 0x07 == 0x05 && insn.code & 0xf0 != 0x80 && insn.code & 0xf0 != 0x90 {
                let target = i as i64 + 1 + insn.off as i64;
                assert!((0..prog.len() as i64).contains(&target), "jump at {i} to {target}");
            }
        }
    }
}
