#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <random>
#include <vector>

namespace orchard::testing {

using RowMajorFloats = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// n rows of dim Gaussian floats, row-major.
inline std::vector<float> RandomRows(std::size_t n, std::size_t dim, unsigned seed, float offset = 0.0f,
                                     float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> rows(n * dim);
  for (float& v : rows) v = offset + scale * normal(rng);
  return rows;
}

// The rows as a double matrix, n x dim.
inline Eigen::MatrixXd ToDouble(const std::vector<float>& rows, std::size_t n, std::size_t dim) {
  return Eigen::Map<const RowMajorFloats>(rows.data(), static_cast<Eigen::Index>(n),
                                          static_cast<Eigen::Index>(dim))
      .cast<double>();
}

// A random orthonormal basis of R^dim (columns), from the QR of a Gaussian matrix.
inline Eigen::MatrixXd RandomOrthonormal(std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const auto d = static_cast<Eigen::Index>(dim);
  Eigen::MatrixXd g(d, d);
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = normal(rng);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  return qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
}

}  // namespace orchard::testing
