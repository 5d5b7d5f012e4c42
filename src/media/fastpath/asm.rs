//! A tiny eBPF instruction encoder with labels: just the instructions the fast-path program uses.
//!
//! Encoding (Documentation/bpf/standardization/instruction-set.rst): every instruction is 8 bytes,
//! `opcode u8 | dst_reg:4 (low nibble) src_reg:4 (high nibble) | offset i16 | imm i32`, little-endian
//! on the x86-64/arm64 hosts we run on (the kernel expects host order). `ld_map_fd` is the one
//! 16-byte instruction (`BPF_LD | BPF_IMM | BPF_DW`, the second half carrying the upper imm).
//! Jumps name a label; `finish` turns labels into the relative offsets the kernel wants
//! (`target − (jump + 1)`, in instructions).

use std::collections::HashMap;

// Instruction classes.
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
// Load/store modes.
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
// Operand source.
const K: u8 = 0x00;
const X: u8 = 0x08;
// Special jump-class ops.
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
// BPF_END with BPF_TO_BE: byte-swap to big-endian (a swap on our little-endian hosts).
const END_TO_BE: u8 = 0xd0 | 0x08;
/// `src_reg` of `ld_map_fd`: the immediate is a map fd the kernel replaces with the map.
const PSEUDO_MAP_FD: u8 = 1;
/// The atomic-op immediate for a plain (non-fetching) add.
const ATOMIC_ADD: i32 = 0x00;

/// A register, r0..r10 (r10 is the read-only frame pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R10: Reg = Reg(10);

/// Memory access width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    B = 0x10,
    H = 0x08,
    W = 0x00,
    DW = 0x18,
}

/// Arithmetic operations (the `op` nibble of the ALU classes).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add = 0x00,
    Or = 0x40,
    And = 0x50,
    Mov = 0xb0,
}

/// Conditional jumps (the `op` nibble of the JMP class); `Ja` is unconditional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Ja = 0x00,
    Eq = 0x10,
    Gt = 0x20,
    Set = 0x40,
    Ne = 0x50,
    Lt = 0xa0,
    Le = 0xb0,
}

/// One encoded 8-byte instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn { code, regs: (src.0 << 4) | (dst.0 & 0x0f), off, imm }
    }

    /// The 8 bytes the kernel reads.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// An instruction stream under construction, with labels for jump targets.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: HashMap<&'static str, usize>,
    fixups: Vec<(usize, &'static str)>,
}

/// A program that cannot be assembled: a bug in `program.rs`, caught by its unit test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    #[error("jump to undefined label {0}")]
    Undefined(&'static str),
    #[error("label {0} defined twice")]
    Duplicate(&'static str),
    #[error("jump to {0} out of range")]
    Range(&'static str),
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    /// Marks the next instruction as the target of `name`.
    pub fn label(&mut self, name: &'static str) -> Result<(), AsmError> {
        if self.labels.insert(name, self.insns.len()).is_some() {
            return Err(AsmError::Duplicate(name));
        }
        Ok(())
    }

    /// 64-bit `dst op= imm`.
    pub fn alu64_imm(&mut self, op: Alu, dst: Reg, imm: i32) {
        self.push(Insn::new(ALU64 | K | op as u8, dst, Reg(0), 0, imm));
    }

    /// 64-bit `dst op= src`.
    pub fn alu64_reg(&mut self, op: Alu, dst: Reg, src: Reg) {
        self.push(Insn::new(ALU64 | X | op as u8, dst, src, 0, 0));
    }

    /// 32-bit `dst op= imm` (the upper half of dst is zeroed).
    pub fn alu32_imm(&mut self, op: Alu, dst: Reg, imm: i32) {
        self.push(Insn::new(ALU | K | op as u8, dst, Reg(0), 0, imm));
    }

    /// 32-bit `dst op= src` (not needed by the program today; kept with its encoding test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn alu32_reg(&mut self, op: Alu, dst: Reg, src: Reg) {
        self.push(Insn::new(ALU | X | op as u8, dst, src, 0, 0));
    }

    /// `dst = to_be(dst)` on `bits` (16/32/64) bits: network ↔ host order on a little-endian host.
    pub fn be(&mut self, dst: Reg, bits: i32) {
        self.push(Insn::new(ALU | END_TO_BE, dst, Reg(0), 0, bits));
    }

    /// `dst = *(size *)(src + off)`.
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.push(Insn::new(LDX | MEM | size as u8, dst, src, off, 0));
    }

    /// `*(size *)(dst + off) = src`.
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.push(Insn::new(STX | MEM | size as u8, dst, src, off, 0));
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.push(Insn::new(ST | MEM | size as u8, dst, Reg(0), off, imm));
    }

    /// `lock *(u64 *)(dst + off) += src`.
    pub fn atomic_add64(&mut self, dst: Reg, off: i16, src: Reg) {
        self.push(Insn::new(STX | ATOMIC | Size::DW as u8, dst, src, off, ATOMIC_ADD));
    }

    /// `dst = map` (the kernel swaps the fd for the map pointer at load time).
    pub fn ld_map_fd(&mut self, dst: Reg, fd: i32) {
        self.push(Insn::new(LD | IMM | Size::DW as u8, dst, Reg(PSEUDO_MAP_FD), 0, fd));
        self.push(Insn { code: 0, regs: 0, off: 0, imm: 0 });
    }

    /// `if dst <cond> imm goto label` (unsigned comparisons, 64-bit).
    pub fn jmp_imm(&mut self, cond: Cond, dst: Reg, imm: i32, label: &'static str) {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::new(JMP | K | cond as u8, dst, Reg(0), 0, imm));
    }

    /// `if dst <cond> src goto label`.
    pub fn jmp_reg(&mut self, cond: Cond, dst: Reg, src: Reg, label: &'static str) {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::new(JMP | X | cond as u8, dst, src, 0, 0));
    }

    /// `goto label`.
    pub fn ja(&mut self, label: &'static str) {
        self.jmp_imm(Cond::Ja, Reg(0), 0, label);
    }

    /// `r0 = helper(r1..r5)`; clobbers r1–r5.
    pub fn call(&mut self, helper: i32) {
        self.push(Insn::new(JMP | CALL, Reg(0), Reg(0), 0, helper));
    }

    /// `return r0`.
    pub fn exit(&mut self) {
        self.push(Insn::new(JMP | EXIT, Reg(0), Reg(0), 0, 0));
    }

    /// Resolves the labels and returns the instructions.
    pub fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        for &(at, label) in &self.fixups {
            let target = *self.labels.get(label).ok_or(AsmError::Undefined(label))?;
            let off = target as i64 - (at as i64 + 1);
            self.insns[at].off = i16::try_from(off).map_err(|_| AsmError::Range(label))?;
        }
        Ok(self.insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: impl FnOnce(&mut Asm)) -> Vec<[u8; 8]> {
        let mut a = Asm::new();
        f(&mut a);
        a.finish().unwrap().into_iter().map(Insn::to_bytes).collect()
    }

    // Expected bytes as `llvm-objdump -d` prints them for the same instructions.
    #[test]
    fn alu_encodings() {
        assert_eq!(one(|a| a.alu64_reg(Alu::Mov, R6, R1)), [[0xbf, 0x16, 0, 0, 0, 0, 0, 0]]);
        assert_eq!(one(|a| a.alu64_imm(Alu::Add, R2, -64)), [[0x07, 0x02, 0, 0, 0xc0, 0xff, 0xff, 0xff]]);
        assert_eq!(one(|a| a.alu64_imm(Alu::Mov, R0, -1)), [[0xb7, 0x00, 0, 0, 0xff, 0xff, 0xff, 0xff]]);
        assert_eq!(one(|a| a.alu32_imm(Alu::And, R4, 0xc0)), [[0x54, 0x04, 0, 0, 0xc0, 0, 0, 0]]);
        assert_eq!(one(|a| a.alu32_reg(Alu::Or, R3, R5)), [[0x4c, 0x53, 0, 0, 0, 0, 0, 0]]);
        assert_eq!(one(|a| a.be(R8, 16)), [[0xdc, 0x08, 0, 0, 0x10, 0, 0, 0]]);
    }

    #[test]
    fn memory_encodings() {
        // r2 = *(u32 *)(r6 + 76)
        assert_eq!(one(|a| a.ldx(Size::W, R2, R6, 76)), [[0x61, 0x62, 0x4c, 0, 0, 0, 0, 0]]);
        // *(u16 *)(r10 - 68) = r4
        assert_eq!(one(|a| a.stx(Size::H, R10, -68, R4)), [[0x6b, 0x4a, 0xbc, 0xff, 0, 0, 0, 0]]);
        // *(u64 *)(r10 - 8) = 0
        assert_eq!(one(|a| a.st(Size::DW, R10, -8, 0)), [[0x7a, 0x0a, 0xf8, 0xff, 0, 0, 0, 0]]);
        // lock *(u64 *)(r7 + 24) += r1
        assert_eq!(one(|a| a.atomic_add64(R7, 24, R1)), [[0xdb, 0x17, 0x18, 0, 0, 0, 0, 0]]);
        // r1 = map_fd 5 ll
        assert_eq!(
            one(|a| a.ld_map_fd(R1, 5)),
            [[0x18, 0x11, 0, 0, 5, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]]
        );
    }

    #[test]
    fn jumps_resolve_labels_both_ways() {
        let got = one(|a| {
            a.label("top").unwrap();
            a.jmp_imm(Cond::Ne, R4, 0x45, "out"); // 0: +2 → 3
            a.jmp_reg(Cond::Gt, R4, R3, "top"); // 1: −2 → 0
            a.ja("out"); // 2: +0 → 3
            a.label("out").unwrap();
            a.call(23);
            a.exit();
        });
        assert_eq!(got[0], [0x55, 0x04, 0x02, 0x00, 0x45, 0, 0, 0]);
        assert_eq!(got[1], [0x2d, 0x34, 0xfe, 0xff, 0, 0, 0, 0]);
        assert_eq!(got[2], [0x05, 0x00, 0x00, 0x00, 0, 0, 0, 0]);
        assert_eq!(got[3], [0x85, 0x00, 0, 0, 23, 0, 0, 0]);
        assert_eq!(got[4], [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn undefined_and_duplicate_labels_are_errors() {
        let mut a = Asm::new();
        a.ja("nowhere");
        assert_eq!(a.finish().unwrap_err(), AsmError::Undefined("nowhere"));
        let mut a = Asm::new();
        a.label("x").unwrap();
        assert_eq!(a.label("x").unwrap_err(), AsmError::Duplicate("x"));
    }
}
