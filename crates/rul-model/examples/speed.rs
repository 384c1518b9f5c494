//! Times forward+backward+Adam step per batch for the configured architectures (random data).
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use rul_model::model::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let window: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(256);
    let feats = 14;
    let configs: Vec<(&str, ModelConfig)> = vec![
        ("lstm64x2", ModelConfig::Lstm(LstmConfig::default())),
        (
            "conv_lstm",
            ModelConfig::ConvLstm(ConvLstmConfig::default()),
        ),
        (
            "conv_pool",
            ModelConfig::ConvLstm(ConvLstmConfig {
                lstm: vec![],
                ..Default::default()
            }),
        ),
    ];
    for (name, cfg) in configs {
        let device = Device::flex().autodiff();
        device.seed(1);
        let mut model = cfg.init(feats, &device);
        let mut optim = AdamConfig::new().init();
        let n = 10;
        let mut t_fwd = 0.0;
        let mut t_all = 0.0;
        for i in 0..n + 2 {
            let x: Tensor<3> =
                Tensor::random([batch, window, feats], Distribution::Default, &device);
            let y: Tensor<1> = Tensor::random([batch], Distribution::Default, &device);
            let t0 = Instant::now();
            let pred = model.forward(x);
            let loss = (pred - y).square().mean();
            let t1 = Instant::now();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
            let _ = model.clone().valid();
            let t2 = Instant::now();
            if i >= 2 {
                t_fwd += (t1 - t0).as_secs_f64();
                t_all += (t2 - t0).as_secs_f64();
            }
        }
        // inference
        let valid = model.valid();
        let dev = Device::flex();
        let x: Tensor<3> = Tensor::random([1024, window, feats], Distribution::Default, &dev);
        let t0 = Instant::now();
        let out = valid.forward(x).into_data();
        let inf = t0.elapsed().as_secs_f64();
        let x1: Tensor<3> = Tensor::random([1, window, feats], Distribution::Default, &dev);
        let t0 = Instant::now();
        let _ = valid.forward(x1).into_data();
        let one = t0.elapsed().as_secs_f64();
        println!(
            "{name:10} w={window} b={batch}: train {:.2} ms/batch ({:.3} ms/window, fwd {:.2} ms) | infer 1024: {:.3} ms/window, single {:.2} ms [{}]",
            t_all / n as f64 * 1e3,
            t_all / n as f64 / batch as f64 * 1e3,
            t_fwd / n as f64 * 1e3,
            inf / 1024.0 * 1e3,
            one * 1e3,
            out.shape()[0]
        );
    }
}
